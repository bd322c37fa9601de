"""Build holdout38's JSON files from the hand-written sources in this folder (format and code:
tests/data/holdout_tools.py)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
import holdout_tools  # noqa: E402

holdout_tools.generate(pathlib.Path(__file__).resolve().parent)
