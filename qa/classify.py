"""Text classifiers as scikit-learn pipelines (pure: no files; see qa.models for saving).

Features come from qa.text: texts are normalised to the match form (Simplified, NFKC,
no punctuation, lower case) before character n-grams are counted, so a model sees the
same text the phrase matcher sees.

`agent_tone`: is an agent's utterance rude, impatient, sarcastic, blaming or threatening?
It backs up the forbidden-word lexicon, which only knows the wordings it lists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa.text import match_text, to_display


def normalise_for_model(text: str) -> str:
    """The text a model sees: the match form of the display text."""
    return match_text(to_display(text)).text


def tone_pipeline(language: str, c: float = 3.0) -> Pipeline:
    """Character n-gram TF-IDF + class-balanced logistic regression. Chinese: 1-3
    character n-grams; English: 2-5 character n-grams within words."""
    if language.startswith("zh"):
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2,
                                     sublinear_tf=True)
    else:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                     sublinear_tf=True)
    return Pipeline([
        ("features", vectorizer),
        ("model", LogisticRegression(C=c, class_weight="balanced", max_iter=3000)),
    ])


def data_hash(texts: Sequence[str], labels: Sequence[Any]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(f"{label}\t{text}\n".encode("utf-8"))
    return digest.hexdigest()


@dataclass
class BinaryMetrics:
    threshold: float
    precision: float
    recall: float
    true_positive: int
    false_positive: int
    false_negative: int
    support: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def binary_metrics(probabilities: Sequence[float], labels: Sequence[int],
                   threshold: float) -> BinaryMetrics:
    """Precision and recall of `probability >= threshold` against 0/1 labels."""
    tp = sum(1 for p, y in zip(probabilities, labels) if p >= threshold and y == 1)
    fp = sum(1 for p, y in zip(probabilities, labels) if p >= threshold and y == 0)
    fn = sum(1 for p, y in zip(probabilities, labels) if p < threshold and y == 1)
    return BinaryMetrics(threshold, tp / (tp + fp) if tp + fp else 1.0,
                         tp / (tp + fn) if tp + fn else 1.0, tp, fp, fn, sum(labels))


@dataclass
class SegmentModel:
    """A trained binary segment classifier and its card (what it is, what it was trained
    on, how well it did on held-out data)."""

    name: str
    pipeline: Pipeline
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return str(self.card.get("language", "zh"))

    @property
    def positive(self) -> str:
        return str(self.card.get("positive_label", "1"))

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """P(positive) for each text (display text; normalised here)."""
        if not texts:
            return []
        classes = list(self.pipeline.classes_)
        column = classes.index(1) if 1 in classes else len(classes) - 1
        matrix = self.pipeline.predict_proba([normalise_for_model(t) for t in texts])
        return [float(row[column]) for row in matrix]


def train_segment_model(name: str, texts: Sequence[str], labels: Sequence[int],
                        language: str, c: float = 3.0) -> SegmentModel:
    """Fit a tone pipeline on display texts with 0/1 labels. Raises ValueError when the
    data has a single class or no text."""
    if not texts:
        raise ValueError("no training texts")
    if len(set(labels)) < 2:
        raise ValueError(f"training data has a single class: {sorted(set(labels))}")
    pipeline = tone_pipeline(language, c)
    pipeline.fit([normalise_for_model(t) for t in texts], list(labels))
    # The n-grams cut by min_df are kept only for inspection; they would triple the file.
    vectorizer = pipeline.named_steps["features"]
    if hasattr(vectorizer, "stop_words_"):
        del vectorizer.stop_words_
    card = {"name": name, "language": language, "labels": [0, 1], "positive_label": 1,
            "train_size": len(texts), "train_positive": int(sum(labels)),
            "train_data_sha256": data_hash(texts, labels), "hyper_parameters": {"C": c}}
    return SegmentModel(name, pipeline, card)
