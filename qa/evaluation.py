"""How good a classifier is on labelled data it was not trained on (pure: labels and
probabilities in, figures out; `qa evaluate` renders them).

For every model: per-class precision, recall and F1, macro-F1, accuracy, the confusion
matrix, and a reliability summary (do predicted probabilities match observed frequencies:
expected calibration error over ten bins, Brier score). For two-class tasks also ROC AUC
of P(positive). `compare` puts the model beside a majority-class and a naive Bayes
baseline scored on the same rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

RELIABILITY_BINS = 10


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_probability: float
    observed: float


@dataclass(frozen=True)
class Reliability:
    """Calibration: for two-class tasks P(positive) against how often the row is
    positive; otherwise the top label's probability against how often it is right."""

    kind: str  # "positive" | "top_label"
    ece: float
    brier: float
    bins: tuple[ReliabilityBin, ...]


@dataclass(frozen=True)
class Evaluation:
    name: str
    labels: tuple[str, ...]
    rows: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted
    reliability: Reliability
    positive: str | None = None
    roc_auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["confusion"] = {"labels": list(self.labels),
                             "matrix": [list(row) for row in self.confusion]}
        return data


def evaluate(name: str, truth: Sequence[str], probabilities: np.ndarray,
             labels: Sequence[str], positive: str | None = None) -> Evaluation:
    """Figures for predictions (`probabilities`: one row per item, columns in `labels`
    order; the predicted label is the most probable) against the true labels. Raises
    ValueError on an empty set or a true label outside `labels`."""
    labels = tuple(labels)
    if len(truth) == 0:
        raise ValueError("nothing to evaluate")
    unknown = sorted(set(truth) - set(labels))
    if unknown:
        raise ValueError(f"labels {', '.join(map(repr, unknown))} are not the model's "
                         f"({', '.join(labels)})")
    probabilities = np.asarray(probabilities, dtype=float)
    y = np.array([labels.index(t) for t in truth])
    predicted = probabilities.argmax(axis=1)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    per_class = {}
    for j, label in enumerate(labels):
        tp = int(confusion[j, j])
        predicted_j = int(confusion[:, j].sum())
        actual_j = int(confusion[j, :].sum())
        precision = tp / predicted_j if predicted_j else 0.0
        recall = tp / actual_j if actual_j else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassMetrics(round(precision, 4), round(recall, 4), round(f1, 4),
                                        actual_j)
    present = [label for label in labels if per_class[label].support > 0]
    macro = float(np.mean([per_class[label].f1 for label in present]))
    roc_auc = None
    if positive is not None and k == 2:
        column = labels.index(positive)
        roc_auc = roc_auc_score(y == column, probabilities[:, column])
    return Evaluation(name, labels, len(truth), round(float(np.mean(predicted == y)), 4),
                      round(macro, 4), per_class, tuple(tuple(int(v) for v in row) for row in confusion),
                      reliability(y, probabilities, positive=labels.index(positive)
                                  if positive is not None and k == 2 else None),
                      positive, None if roc_auc is None else round(roc_auc, 4))


def roc_auc_score(is_positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (the probability that a random positive scores above a
    random negative, ties counting half); None without both classes."""
    from scipy.stats import rankdata

    is_positive = np.asarray(is_positive, dtype=bool)
    positives = int(is_positive.sum())
    negatives = len(is_positive) - positives
    if not positives or not negatives:
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[is_positive].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def reliability(y: np.ndarray, probabilities: np.ndarray, positive: int | None = None,
                bins: int = RELIABILITY_BINS) -> Reliability:
    """Expected calibration error over equal-width probability bins, and Brier score."""
    k = probabilities.shape[1]
    onehot = np.eye(k)[y]
    brier = float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))
    if positive is not None:
        confidence = probabilities[:, positive]
        outcome = (y == positive).astype(float)
        kind = "positive"
    else:
        confidence = probabilities.max(axis=1)
        outcome = (probabilities.argmax(axis=1) == y).astype(float)
        kind = "top_label"
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        member = index == b
        count = int(member.sum())
        if not count:
            continue
        mean_p = float(confidence[member].mean())
        observed = float(outcome[member].mean())
        ece += count / len(y) * abs(mean_p - observed)
        rows.append(ReliabilityBin(round(float(edges[b]), 2), round(float(edges[b + 1]), 2),
                                   count, round(mean_p, 4), round(observed, 4)))
    return Reliability(kind, round(ece, 4), round(brier, 4), tuple(rows))


def majority_probabilities(prior: Sequence[float], rows: int) -> np.ndarray:
    """The majority-class baseline: every row gets the training label distribution (so
    it predicts the most frequent training label, and ranks nothing: ROC AUC 0.5)."""
    return np.tile(np.asarray(prior, dtype=float), (rows, 1))


@dataclass(frozen=True)
class Comparison:
    model: Evaluation
    baselines: tuple[Evaluation, ...]

    def as_dict(self) -> dict[str, Any]:
        data = self.model.as_dict()
        data["baselines"] = {b.name: b.as_dict() for b in self.baselines}
        return data
