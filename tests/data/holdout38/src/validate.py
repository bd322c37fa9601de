"""Check holdout38's JSON files and print its label distribution (tests/data/holdout_tools.py)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
import holdout_tools  # noqa: E402

holdout_tools.validate(pathlib.Path(__file__).resolve().parent.parent, "h38", forbidden=(40, 55), per_language=(24, 14), asr=(17, 23), min_en_asr=7)
