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
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa.text import match_text, to_display

_SPACE_RE = re.compile(r"\s")


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
        self._coded = _CodedVocabulary.of(self.terms, self.ngram_range)

    def _cuts_directly(self, text: str) -> bool:
        return (self.ngram_range is not None and text == text.lower()
                and _SPACE_RE.search(text) is None)

    def _grams(self, text: str) -> list[str]:
        if not self._cuts_directly(text):
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
        return self._logistic(norm, dot)

    def _logistic(self, norm: float, dot: float) -> float:
        z = self.intercept + (dot / math.sqrt(norm) if norm else 0.0)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """`probability` of each text, the character n-grams of all texts counted in one
        vectorised pass (the same sums in the same order, so the same floats)."""
        direct = [i for i, t in enumerate(texts) if t and self._cuts_directly(t)]
        if self._coded is None or len(direct) < 2:
            return [self.probability(t) for t in texts]
        out = [0.0] * len(texts)
        sums = self._coded.norms_and_dots([texts[i] for i in direct], self.sublinear)
        for i, (norm, dot) in zip(direct, sums):
            out[i] = self._logistic(norm, dot)
        chosen = set(direct)
        for i, text in enumerate(texts):
            if i not in chosen:
                out[i] = self.probability(text)
        return out


class _CodedVocabulary:
    """A character n-gram vocabulary as sorted integer codes (the code points of an
    n-gram, each plus one, as digits of one number), so the n-grams of many texts are
    looked up at once with numpy."""

    BASE = 0x110001  # one more than the number of code points: digits 1..0x110000

    def __init__(self, codes: np.ndarray, idf: np.ndarray, weight: np.ndarray,
                 ngram_range: tuple[int, int]):
        self.codes, self.idf, self.weight, self.ngram_range = codes, idf, weight, ngram_range

    @classmethod
    def of(cls, terms: Mapping[str, tuple[float, float]],
           ngram_range: tuple[int, int] | None) -> "_CodedVocabulary | None":
        if ngram_range is None or cls.BASE ** ngram_range[1] >= 2 ** 63 or not terms:
            return None
        coded = sorted((cls._code(term), idf, weight) for term, (idf, weight) in terms.items())
        return cls(np.array([c for c, _, _ in coded], dtype=np.int64),
                   np.array([i for _, i, _ in coded]), np.array([w for _, _, w in coded]),
                   ngram_range)

    @classmethod
    def _code(cls, term: str) -> int:
        code = 0
        for ch in term:
            code = code * cls.BASE + ord(ch) + 1
        return code

    def _grams(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, n-gram code) of every n-gram of every text, ordered by text,
        then n, then position: the order LinearTextScorer._grams lists them in."""
        chars = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64) + 1
        lengths = np.array([len(t) for t in texts])
        ends = np.cumsum(lengths)
        owner = np.repeat(np.arange(len(texts)), lengths)
        position = np.arange(len(chars))
        low, high = self.ngram_range
        owners, codes = [], []
        for n in range(low, high + 1):
            starts = position[position + n <= ends[owner]]
            code = np.zeros(len(starts), dtype=np.int64)
            for k in range(n):
                code = code * self.BASE + chars[starts + k]
            owners.append(owner[starts])
            codes.append(code)
        owner_all, code_all = np.concatenate(owners), np.concatenate(codes)
        order = np.argsort(owner_all, kind="stable")
        return owner_all[order], code_all[order]

    def norms_and_dots(self, texts: Sequence[str], sublinear: bool) -> list[tuple[float, float]]:
        """Per text, the squared norm of its TF-IDF vector and its dot product with the
        coefficients, summed term by term in order of first occurrence."""
        owner, code = self._grams(texts)
        at = np.minimum(np.searchsorted(self.codes, code), len(self.codes) - 1)
        known = self.codes[at] == code
        owner, term = owner[known], at[known]
        pair = owner * len(self.codes) + term
        unique, first, counts = np.unique(pair, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        unique, counts = unique[order], counts[order]
        owner, term = unique // len(self.codes), unique % len(self.codes)
        idf, weight = self.idf[term], self.weight[term]
        # math.log, as the per-text path uses, not numpy's (which may differ in the last bit)
        table = np.array([0.0] + [(1.0 + math.log(c)) if sublinear else float(c)
                                  for c in range(1, int(counts.max(initial=1)) + 1)])
        tf = table[counts]
        once = counts == 1
        norm_terms = np.where(once, idf * idf, tf * tf * idf * idf)
        dot_terms = np.where(once, weight, tf * weight)
        norms = np.bincount(owner, weights=norm_terms, minlength=len(texts))
        dots = np.bincount(owner, weights=dot_terms, minlength=len(texts))
        return list(zip(norms.tolist(), dots.tolist()))


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
        return self._scorer.probabilities(forms)

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
