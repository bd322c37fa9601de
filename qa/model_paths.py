"""Where trained models are found: the folders of QA_MODELS_PATH (os.pathsep-separated),
then the models bundled with callqa. Kept apart from qa.models, which imports
scikit-learn and skops (seconds), so that finding a model's files stays cheap."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_models_dir() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / "models", package.parent / "models"):
        if candidate.is_dir():
            return candidate
    return package.parent / "models"


def model_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("QA_MODELS_PATH", "").split(os.pathsep) if p]
    return extra + [bundled_models_dir()]


def find_model_dir(name: str, directories: list[Path] | None = None) -> Path | None:
    """The folder of the model `name` (the first with a card.json), or None."""
    for directory in directories if directories is not None else model_dirs():
        if (directory / name / "card.json").is_file():
            return directory / name
    return None
