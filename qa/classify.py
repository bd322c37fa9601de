"""Text classifiers as scikit-learn pipelines (pure: no files; see qa.models for saving).

Features come from qa.text: texts are normalised to the match form (Simplified, NFKC,
no punctuation, lower case) before character n-grams are counted, so a model sees the
same text the phrase matcher sees.

`agent_tone`: is an agent's utterance rude, impatient, sarcastic, blaming or threatening?
It backs up the forbidden-word lexicon, which only knows the wordings it lists.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
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


class LinearTextScorer:
    """P(positive) of a fitted TF-IDF + binary logistic regression pipeline, computed
    directly from its vocabulary, idf and coefficients: the same numbers as
    predict_proba, without scikit-learn's per-call validation, which costs more than the
    arithmetic for the twenty short segments of a call."""

    def __init__(self, pipeline: Pipeline):
        vectorizer = pipeline.named_steps["features"]
        model = pipeline.named_steps["model"]
        if (not isinstance(vectorizer, TfidfVectorizer) or vectorizer.norm != "l2"
                or not vectorizer.use_idf or len(model.classes_) != 2):
            raise ValueError("LinearTextScorer needs an l2 TF-IDF and a binary linear model")
        self.analyzer = vectorizer.build_analyzer()
        # Character n-grams of text that is already lower case and free of white space
        # (the match form) can be cut directly, which is most of the work saved.
        self.ngram_range: tuple[int, int] | None = (
            vectorizer.ngram_range if vectorizer.analyzer == "char" else None)
        self.sublinear = bool(vectorizer.sublinear_tf)
        idf = vectorizer.idf_
        coef = model.coef_[0]
        # per term: idf, idf * coefficient (a term seen once contributes exactly these)
        self.terms = {term: (float(idf[j]), float(idf[j] * coef[j]))
                      for term, j in vectorizer.vocabulary_.items()}
        self.intercept = float(model.intercept_[0])

    def _grams(self, text: str) -> list[str]:
        if self.ngram_range is None or text != text.lower() or any(ch.isspace() for ch in text):
            return self.analyzer(text)
        low, high = self.ngram_range
        return [text[i:i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]

    def probability(self, text: str) -> float:
        counts = Counter(self._grams(text))
        terms = self.terms
        norm = dot = 0.0
        for term, count in counts.items():
            found = terms.get(term)
            if found is None:
                continue
            idf, weight = found
            if count == 1:
                norm += idf * idf
                dot += weight
            else:
                tf = (1.0 + math.log(count)) if self.sublinear else float(count)
                norm += tf * tf * idf * idf
                dot += tf * weight
        z = self.intercept + (dot / math.sqrt(norm) if norm else 0.0)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


@dataclass
class SegmentModel:
    """A trained binary segment classifier and its card (what it is, what it was trained
    on, how well it did on held-out data)."""

    name: str
    pipeline: Pipeline
    card: dict[str, Any] = field(default_factory=dict)
    _scorer: LinearTextScorer | None = field(default=None, init=False, repr=False)

    @property
    def language(self) -> str:
        return str(self.card.get("language", "zh"))

    @property
    def positive(self) -> str:
        return str(self.card.get("positive_label", "1"))

    def probabilities(self, texts: Sequence[str], normalised: bool = False) -> list[float]:
        """P(positive) for each text: display texts, normalised here, or texts already in
        match form (`normalised`, as the checks hold them)."""
        if not texts:
            return []
        if self._scorer is None:
            self._scorer = LinearTextScorer(self.pipeline)
        forms = texts if normalised else [normalise_for_model(t) for t in texts]
        return [self._scorer.probability(t) for t in forms]

    def pipeline_probabilities(self, texts: Sequence[str]) -> list[float]:
        """The same as `probabilities`, through scikit-learn's predict_proba."""
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
