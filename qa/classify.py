"""Text classifiers as scikit-learn pipelines (pure: no files; see qa.models for saving).

Features come from qa.text: texts are normalised to the match form (Simplified, NFKC,
no punctuation, lower case) before character n-grams are counted, so a model sees the
same text the phrase matcher sees.

`agent_tone`: is an agent's utterance rude, impatient, sarcastic, blaming or threatening?
It backs up the forbidden-word lexicon, which only knows the wordings it lists.

Call-level tasks (`TASKS`: complaint_risk, customer_emotion, call_reason) use jieba words
(qa.text.tokenize) and character n-grams of the display form, punctuation kept (！！ and
？？ carry emotion), over the side of the call the task names; customer_emotion adds
cue features (emotion_cues: emotion-lexicon categories, punctuation, laughter, emoji).
Their probabilities are calibrated: one sigmoid per label, or for customer_emotion a
multinomial logistic regression on the SVM's scores (SoftmaxCalibratedSVM). `TextModel` is a trained task model; `call_prediction` turns one into the
`Prediction` a rubric's classifier check reads.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from qa.checks import Prediction
from qa.model import Transcript
from qa.text import kept_many, match_text, to_display, tokenize
from qa.word_vectors import WordVectorFeatures

_SPACE_RE = re.compile(r"\s")


def normalise_for_model(text: str) -> str:
    """The text a model sees: the match form of the display text."""
    return match_text(to_display(text)).text


def tone_pipeline(language: str, c: float = 3.0, ngram_range: tuple[int, int] | None = None,
                  min_df: int = 2, rude_weight: float | None = None,
                  word_weight: float | None = None) -> Pipeline:
    """Character n-gram TF-IDF + logistic regression. Chinese: 1-3 character n-grams;
    English: 2-5 character n-grams within words (`ngram_range` overrides). Classes are
    balanced, or, with `rude_weight`, the rude class weighs that much against 1. With
    `word_weight`, a second block beside the characters: word 1-2-grams of the match form
    (each block l2-normalised, the words' scaled by `word_weight`), which lets a model
    weigh a phrase ("not a right", "go ahead") apart from the words' letters."""
    chinese = language.startswith("zh")
    vectorizer = TfidfVectorizer(analyzer="char" if chinese else "char_wb",
                                 ngram_range=ngram_range or ((1, 3) if chinese else (2, 5)),
                                 min_df=min_df, sublinear_tf=True)
    features: Any = vectorizer
    if word_weight:
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=min_df,
                                sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        features = FeatureUnion([("chars", vectorizer), ("words", words)],
                                transformer_weights={"chars": 1.0, "words": float(word_weight)})
    weights: Any = "balanced" if rude_weight is None else {0: 1.0, 1: rude_weight}
    return Pipeline([
        ("features", features),
        ("model", LogisticRegression(C=c, class_weight=weights, max_iter=3000)),
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
        features = pipeline.named_steps["features"]
        model = pipeline.named_steps["model"]
        if isinstance(features, FeatureUnion):
            block_weights = features.transformer_weights or {}
            blocks = [(v, block_weights.get(n, 1.0)) for n, v in features.transformer_list]
        else:
            blocks = [(features, 1.0)]
        if (any(not isinstance(v, TfidfVectorizer) or v.norm != "l2" or not v.use_idf
                for v, _ in blocks) or len(model.classes_) != 2):
            raise ValueError("LinearTextScorer needs l2 TF-IDF blocks and a binary linear model")
        vectorizer = blocks[0][0]
        coef = model.coef_[0]
        # the blocks after the first (a FeatureUnion's word n-grams): per block its analyzer,
        # weight and terms (idf, idf * coefficient), the coefficients offset by the columns
        # of the blocks before it
        self.more_blocks: list[tuple[Any, float, bool, dict[str, tuple[float, float]]]] = []
        offset = len(vectorizer.vocabulary_)
        for block, weight in blocks[1:]:
            idf_b = block.idf_
            self.more_blocks.append((block.build_analyzer(), float(weight), bool(block.sublinear_tf),
                                     {term: (float(idf_b[j]), float(idf_b[j] * coef[offset + j]))
                                      for term, j in block.vocabulary_.items()}))
            offset += len(block.vocabulary_)
        self.first_weight = float(blocks[0][1])
        self.analyzer = vectorizer.build_analyzer()
        # Character n-grams of text that is already lower case and free of white space
        # (the match form) can be cut directly, which is most of the work saved.
        self.ngram_range: tuple[int, int] | None = (
            vectorizer.ngram_range if vectorizer.analyzer == "char" else None)
        self.sublinear = bool(vectorizer.sublinear_tf)
        idf = vectorizer.idf_
        # per term: idf, idf * coefficient (a term seen once contributes exactly these)
        self.terms = {term: (float(idf[j]), float(idf[j] * coef[j]))
                      for term, j in vectorizer.vocabulary_.items()}
        self.intercept = float(model.intercept_[0])
        self._coded = (None if self.more_blocks
                       else _CodedVocabulary.of(self.terms, self.ngram_range))

    def _cuts_directly(self, text: str) -> bool:
        return (self.ngram_range is not None and text == text.lower()
                and _SPACE_RE.search(text) is None)

    def _grams(self, text: str) -> list[str]:
        if not self._cuts_directly(text):
            return self.analyzer(text)
        low, high = self.ngram_range
        return [text[i:i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]

    def probability(self, text: str) -> float:
        norm, dot = _norm_and_dot(Counter(self._grams(text)), self.terms, self.sublinear)
        if not self.more_blocks:
            return self._logistic(norm, dot)
        z = self.intercept + self.first_weight * _normalised_dot(norm, dot)
        for analyzer, weight, sublinear, terms in self.more_blocks:
            z += weight * _normalised_dot(*_norm_and_dot(Counter(analyzer(text)), terms, sublinear))
        return _sigmoid(z)

    def _logistic(self, norm: float, dot: float) -> float:
        return _sigmoid(self.intercept + _normalised_dot(norm, dot))

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


def _normalised_dot(norm: float, dot: float) -> float:
    """A block's contribution to the logit: the dot product of its l2-normalised vector."""
    return dot / math.sqrt(norm) if norm else 0.0


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _norm_and_dot(counts: Mapping[str, int], terms: Mapping[str, tuple[float, float]],
                  sublinear: bool) -> tuple[float, float]:
    """The squared norm of a text's TF-IDF vector and its dot product with the
    coefficients, from its term counts and the vocabulary's (idf, idf * coefficient)."""
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
            tf = (1.0 + math.log(count)) if sublinear else float(count)
            norm += tf * tf * idf * idf
            dot += tf * weight
    return norm, dot


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
        """(text index, n-gram code) of every n-gram of every text, ordered by n, then
        position: each text's n-grams come in the order LinearTextScorer._grams lists
        them in (the texts' n-grams interleave, which no sum per text depends on)."""
        chars = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64) + 1
        lengths = np.array([len(t) for t in texts])
        owner = np.repeat(np.arange(len(texts)), lengths)
        room = np.cumsum(lengths)[owner] - np.arange(len(chars))  # characters left in the text
        low, high = self.ngram_range
        owners, codes = [], []
        for n in range(low, high + 1):
            starts = np.flatnonzero(room >= n)
            code = chars[starts]
            for k in range(1, n):
                code = code * self.BASE + chars[starts + k]
            owners.append(owner[starts])
            codes.append(code)
        return np.concatenate(owners), np.concatenate(codes)

    def norms_and_dots(self, texts: Sequence[str], sublinear: bool) -> list[tuple[float, float]]:
        """Per text, the squared norm of its TF-IDF vector and its dot product with the
        coefficients, summed term by term in order of first occurrence in the text
        (np.bincount adds each text's terms in the order they come)."""
        owner, code = self._grams(texts)
        codes = self.codes
        size = len(codes)
        at = codes.searchsorted(code)
        np.minimum(at, size - 1, out=at)
        known = codes[at] == code
        owner, term = owner[known], at[known]
        # Each (text, term) counted at its first n-gram: a stable sort by pair groups
        # equal pairs in n-gram order, so a group's first member is its first occurrence;
        # those, taken in n-gram order, are np.unique's pairs re-sorted by first index
        # (what this did before, with a second sort).
        pair = owner * size + term
        order = pair.argsort(kind="stable")
        ranked = pair[order]
        starts = np.empty(len(ranked), dtype=bool)
        starts[:1] = True
        np.not_equal(ranked[1:], ranked[:-1], out=starts[1:])
        bounds = np.flatnonzero(starts)
        counted = np.zeros(len(pair), dtype=np.int64)
        counted[order[bounds]] = np.diff(bounds, append=len(ranked))
        first = np.flatnonzero(counted)
        counts, owner, term = counted[first], owner[first], term[first]
        # math.log, as the per-text path uses, not numpy's (which may differ in the last bit)
        table = np.array([0.0] + [(1.0 + math.log(c)) if sublinear else float(c)
                                  for c in range(1, int(counts.max(initial=1)) + 1)])
        tf = table[counts]
        idf = self.idf[term]
        # A term seen once has tf 1.0, so these are exactly the per-text path's idf * idf
        # and weight for it (multiplying by 1.0 is exact), in the same order of operations.
        norms = np.bincount(owner, weights=tf * tf * idf * idf, minlength=len(texts))
        dots = np.bincount(owner, weights=tf * self.weight[term], minlength=len(texts))
        return list(zip(norms.tolist(), dots.tolist()))


@dataclass
class SegmentModel:
    """A trained binary segment classifier and its card (what it is, what it was trained
    on, how well it did on held-out data)."""

    name: str
    pipeline: Pipeline
    card: dict[str, Any] = field(default_factory=dict)
    _scorer: LinearTextScorer | None = field(default=None, init=False, repr=False)
    _known: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    KNOWN_TEXTS = 50_000  # probabilities kept (about 10 MB at most)

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
        # Agents say the same scripted lines call after call: a text's probability is
        # worked out once and kept (exactly the number scoring it again would give; see
        # LinearTextScorer.probabilities), up to a bound, then the memory starts afresh.
        return kept_many(self._known, forms, self._scorer.probabilities, self.KNOWN_TEXTS)

    def pipeline_probabilities(self, texts: Sequence[str]) -> list[float]:
        """The same as `probabilities`, through scikit-learn's predict_proba."""
        classes = list(self.pipeline.classes_)
        column = classes.index(1) if 1 in classes else len(classes) - 1
        matrix = self.pipeline.predict_proba([normalise_for_model(t) for t in texts])
        return [float(row[column]) for row in matrix]


def train_segment_model(name: str, texts: Sequence[str], labels: Sequence[int],
                        language: str, c: float = 3.0, **hyper_parameters: Any) -> SegmentModel:
    """Fit a tone pipeline (tone_pipeline's `hyper_parameters` beside C) on display texts
    with 0/1 labels. Raises ValueError when the data has a single class or no text."""
    if not texts:
        raise ValueError("no training texts")
    if len(set(labels)) < 2:
        raise ValueError(f"training data has a single class: {sorted(set(labels))}")
    pipeline = tone_pipeline(language, c, **hyper_parameters)
    pipeline.fit([normalise_for_model(t) for t in texts], list(labels))
    # The n-grams cut by min_df are kept only for inspection; they would triple the file.
    for vectorizer in vectorizers_of(pipeline):
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    chosen = {"C": c, **{k: list(v) if isinstance(v, tuple) else v
                         for k, v in hyper_parameters.items() if v is not None}}
    card = {"name": name, "language": language, "labels": [0, 1], "positive_label": 1,
            "train_size": len(texts), "train_positive": int(sum(labels)),
            "train_data_sha256": data_hash(texts, labels), "hyper_parameters": chosen}
    return SegmentModel(name, pipeline, card)


# --- call-level tasks ----------------------------------------------------------------------

# The weight of customer_emotion's cue block, chosen by cross-validation on its training
# set (docs/emotion_variants.md).
CUE_WEIGHT = 0.5

Side = Literal["customer", "agent", "call"]


@dataclass(frozen=True)
class Task:
    """What a model predicts and from which words of the call.

    `per_turn`: the model reads one turn at a time and a call's prediction is rolled up
    from its turns (customer_emotion); otherwise it reads the whole side as one text.
    `positive`: the label of interest of a two-class task (ROC AUC is computed for it).
    `cues`: the weight of the emotion-lexicon, punctuation and emoji cue features
    (emotion_cues) beside the words and characters (each block l2-normalised); 0: none.
    `calibration`: "sigmoid" (one per label) or "softmax" (SoftmaxCalibratedSVM).
    `vectors`: the weight of the mean-pooled static word vectors (qa.word_vectors) beside
    them; 0: none (no shipped task uses them: docs/emotion_variants.md, round 3)."""

    name: str
    labels: tuple[str, ...]
    side: Side
    per_turn: bool = False
    positive: str | None = None
    description: str = ""
    cues: float = 0.0
    calibration: Literal["sigmoid", "softmax"] = "sigmoid"
    vectors: float = 0.0


TASKS: dict[str, Task] = {
    "complaint_risk": Task(
        "complaint_risk", ("low", "high"), "customer", positive="high",
        description="Will the customer leave dissatisfied or complain? Read from the "
                    "customer's side of the call; the last customer turn counts twice."),
    "customer_emotion": Task(
        "customer_emotion", ("angry", "happy", "neutral", "sad", "surprise", "fear"),
        "customer", per_turn=True, cues=CUE_WEIGHT, calibration="softmax",
        description="The emotion of each customer turn, rolled up per call (share of "
                    "angry turns, the peak, the trend over the call)."),
    "call_reason": Task(
        "call_reason", ("咨询", "投诉", "挂失", "额度", "交易", "营销", "其他"), "customer",
        description="Why the customer called: enquiry, complaint, lost card, credit limit, "
                    "transaction, marketing, other."),
}


def task_spec(name: str) -> Task:
    """The task called `name`; raises ValueError naming the known tasks."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(TASKS)})") from None


def model_text(text: str) -> str:
    """The text a task model reads: the display form (Simplified, NFKC), lower case, with
    punctuation kept; the turns of a joined side stay on their own lines."""
    return "\n".join(_model_line(line) for line in text.split("\n"))


@functools.lru_cache(maxsize=65536)
def _model_line(line: str) -> str:
    return to_display(line).lower()


@functools.lru_cache(maxsize=65536)
def _turn_words(turn: str) -> tuple[str, ...]:
    return tuple(tokenize(turn, hmm=False))


def word_tokens(text: str) -> list[str]:
    """The word features of a model text: qa.text.tokenize per line (turn), with jieba's
    dictionary words only, kept for repeated turns (好的, 对的, 谢谢 recur in every call)."""
    return [w for line in text.split("\n") for w in _turn_words(line)]


# Cues of emotion beyond the words: runs of ！ and ？, trailing dots, laughter, emoji and
# Weibo's bracketed emoticons ([哈哈], [怒]).
EMOTION_CUES = (
    ("punct_!!", re.compile(r"[!！]{2,}")), ("punct_!", re.compile(r"[!！]")),
    ("punct_??", re.compile(r"[?？]{2,}")), ("punct_?", re.compile(r"[?？]")),
    ("punct_...", re.compile(r"(\.{3,}|。{2,}|…)")),
    ("laugh", re.compile(r"(哈哈|呵呵|嘻嘻|hh)")),
    ("emoji", re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")),
    ("bracket_emoji", re.compile(r"\[[^\]]{1,4}\]")),
)


def emotion_cues(text: str) -> list[str]:
    """The cue features of a model text: the emotion-lexicon categories of the lexicon
    words in it (qa.emotion_lexicon: DUTIR 怒/哀/惧/..., HowNet positive/negative/
    negation/degree; words of two characters or more wherever they occur, a single
    character only where word_tokens cuts it as a word) and one token per punctuation,
    laughter or emoji cue found."""
    from qa.emotion_lexicon import lexicon_categories

    out = lexicon_categories(text, word_tokens(text))
    for name, pattern in EMOTION_CUES:
        out += [name] * len(pattern.findall(text))
    return out


_ROLE_RE = re.compile(r"^\s*(customer|agent|user|客户|坐席|客服)\s*[:：]\s*", re.IGNORECASE)
_ROLE_NAMES = {"customer": "customer", "user": "customer", "客户": "customer",
               "agent": "agent", "坐席": "agent", "客服": "agent"}


def dialogue_turns(text: str) -> list[tuple[str, str]] | None:
    """A labelled row written as a dialogue (`customer: … || agent: …`, the layout of the
    STC-3 set) as (role, text) turns; None when the text is not in that layout."""
    parts = text.split("||")
    turns = []
    for part in parts:
        found = _ROLE_RE.match(part)
        if found is None:
            return None
        turns.append((_ROLE_NAMES[found.group(1).lower()], part[found.end():].strip()))
    return turns


def side_turns(turns: Sequence[tuple[str, str]], side: Side) -> list[str]:
    """The non-empty texts of the turns on `side` (all turns for `call`)."""
    return [text for role, text in turns if text.strip() and (side == "call" or role == side)]


def transcript_turns(transcript: Transcript) -> list[tuple[str, str]]:
    return [(s.speaker, s.text) for s in transcript.segments]


def row_units(task: Task, text: str) -> list[str]:
    """What the task's model reads for one labelled row: a row in dialogue layout gives
    its side of the call; any other row is taken as said on the task's side."""
    turns = dialogue_turns(text)
    if turns is None:
        return [text] if text.strip() else []
    return side_turns(turns, task.side)


# Features: words and character n-grams, with caps so a shipped model stays small.
CHAR_FEATURES = 60000
WORD_FEATURES = 30000


def text_features(char_features: int = CHAR_FEATURES, word_features: int = WORD_FEATURES,
                  cues: float = 0.0, vectors: float = 0.0) -> FeatureUnion:
    """jieba words (word_tokens: qa.text.tokenize with the bank domain dictionary) and character 1-3
    grams of the model text, each TF-IDF weighted; with `cues` above 0, the emotion_cues
    too, their block weighted by `cues`; with `vectors` above 0, the mean static word
    vector of the text's words (qa.word_vectors), weighted by `vectors`."""
    blocks = [
        ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2,
                                  sublinear_tf=True, max_features=char_features,
                                  dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer=word_tokens, min_df=2, sublinear_tf=True,
                                  max_features=word_features, dtype=np.float32)),
    ]
    weights = {}
    if cues:
        blocks.append(("cues", TfidfVectorizer(analyzer=emotion_cues, sublinear_tf=True,
                                               dtype=np.float32)))
        weights["cues"] = float(cues)
    if vectors:
        blocks.append(("vectors", WordVectorFeatures(analyzer=word_tokens)))
        weights["vectors"] = float(vectors)
    return FeatureUnion(blocks, transformer_weights=weights or None)


def task_pipeline(c: float = 0.3, char_features: int = CHAR_FEATURES,
                  word_features: int = WORD_FEATURES, task: Task | None = None) -> Pipeline:
    """Word + character TF-IDF (and the task's cue features) and a class-balanced linear
    SVM whose scores become probabilities by sigmoid calibration on cross-validated
    predictions (one SVM is kept, fitted on all the data), or, for a task calibrated by
    softmax, through SoftmaxCalibratedSVM."""
    features = text_features(char_features, word_features,
                             cues=task.cues if task is not None else 0.0,
                             vectors=task.vectors if task is not None else 0.0)
    if task is not None and task.calibration == "softmax":
        return Pipeline([("features", features), ("model", SoftmaxCalibratedSVM(C=c))])
    svm = LinearSVC(C=c, class_weight="balanced")
    return Pipeline([
        ("features", features),
        ("model", CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)),
    ])


def model_description(task: Task) -> str:
    features = ("word + character" + (f" + emotion-cue (weight {task.cues:g})" if task.cues else "")
                + " TF-IDF"
                + (f" + e5-distilled word vectors (weight {task.vectors:g})" if task.vectors else ""))
    if task.calibration == "softmax":
        return (f"{features}, LinearSVC(class_weight=balanced) + multinomial logistic "
                "calibration of its scores")
    return f"{features}, LinearSVC(class_weight=balanced) + sigmoid calibration"


class SoftmaxCalibratedSVM(ClassifierMixin, BaseEstimator):
    """A class-balanced linear SVM whose decision values (one per label) become
    probabilities through a multinomial logistic regression fitted on cross-validated
    decision values. Unlike one sigmoid per label (normalised afterwards), the calibrator
    learns how the labels' scores trade off against each other, and its probabilities
    keep the training set's label frequencies."""

    def __init__(self, C: float = 0.3, folds: int = 3):
        self.C = C
        self.folds = folds

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight="balanced")

    def fit(self, X, y):
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        y = np.asarray(y)
        smallest = min(Counter(y.tolist()).values())
        folds = min(self.folds, smallest)
        if folds >= 2:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
            decisions = cross_val_predict(self._svm(), X, y, cv=splitter,
                                          method="decision_function")
        self.svm_ = self._svm().fit(X, y)
        if folds < 2:  # a label with one row: calibrate on the training scores
            decisions = self.svm_.decision_function(X)
        self.classes_ = self.svm_.classes_
        self.calibrator_ = LogisticRegression(C=1.0, max_iter=2000).fit(
            _as_columns(decisions), y)
        return self

    def decision_function(self, X) -> np.ndarray:
        return self.svm_.decision_function(X)

    def predict_proba(self, X) -> np.ndarray:
        proba = self.calibrator_.predict_proba(_as_columns(self.decision_function(X)))
        order = [list(self.calibrator_.classes_).index(c) for c in self.classes_]
        return proba[:, order]

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _as_columns(decisions: np.ndarray) -> np.ndarray:
    decisions = np.asarray(decisions, dtype=np.float64)
    return decisions.reshape(-1, 1) if decisions.ndim == 1 else decisions


def naive_bayes_pipeline() -> Pipeline:
    """The naive Bayes baseline: character 1-3 gram counts, multinomial NB."""
    return Pipeline([
        ("features", CountVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2,
                                     max_features=CHAR_FEATURES)),
        ("model", MultinomialNB(alpha=0.5)),
    ])


def vectorizers_of(pipeline: Pipeline) -> list[CountVectorizer]:
    """The fitted vectorizers of a pipeline's `features` step (one, or a FeatureUnion's)."""
    features = pipeline.named_steps["features"]
    parts = ([v for _, v in features.transformer_list]
             if isinstance(features, FeatureUnion) else [features])
    return [v for v in parts if isinstance(v, CountVectorizer)]


def _compact(pipeline: Pipeline) -> None:
    # The n-grams cut by min_df / max_features are kept only for inspection and would
    # multiply the file size. max_features leaves numpy integers in the vocabulary, which
    # skops would store as one array file each (minutes to save): make them plain ints.
    for vectorizer in vectorizers_of(pipeline):
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
        vectorizer.vocabulary_ = {term: int(j) for term, j in vectorizer.vocabulary_.items()}


@dataclass
class TextModel:
    """A trained task model (qa.classify.TASKS), its naive Bayes baseline fitted on the
    same data, and its card."""

    task: Task
    pipeline: Pipeline
    card: dict[str, Any] = field(default_factory=dict)
    baseline: Pipeline | None = None
    _scorer: "CalibratedTaskScorer | None" = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.task.name))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.labels

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """P(label) for each text (rows) and label (columns, in `labels` order): the
        numbers of the pipeline's predict_proba, computed for the whole batch at once from
        its vocabularies and weights (CalibratedTaskScorer); a text repeated in the batch
        is prepared and scored once."""
        if self._scorer is None:
            self._scorer = CalibratedTaskScorer(self.pipeline, self.labels)
        distinct = list(dict.fromkeys(texts))
        matrix = self._scorer.probabilities([model_text(t) for t in distinct])
        position = {text: i for i, text in enumerate(distinct)}
        return matrix[[position[t] for t in texts]] if texts else matrix

    def baseline_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if self.baseline is None:
            raise ValueError(f"model {self.name!r} has no naive Bayes baseline")
        return _ordered_probabilities(self.baseline, [model_text(t) for t in texts],
                                      self.labels)

    def unit_probabilities(self, units: Sequence[Sequence[str]],
                           baseline: bool = False) -> np.ndarray:
        """One row of P(label) per call (or labelled row), given the texts the task reads
        for it (`row_units`, `call_units`): per-turn tasks average their turns, the others
        read the side as one text and its last turn again."""
        score = self.baseline_probabilities if baseline else self.probabilities
        if self.task.per_turn:
            flat = [t for unit in units for t in unit]
            matrix = score(flat) if flat else np.zeros((0, len(self.labels)))
            rows, at = [], 0
            for unit in units:
                part = matrix[at:at + len(unit)]
                at += len(unit)
                rows.append(part.mean(axis=0) if len(part) else self.prior())
            return np.vstack(rows) if rows else np.zeros((0, len(self.labels)))
        joined = score(["\n".join(unit) for unit in units])
        last = score([unit[-1] if unit else "" for unit in units])
        return (joined + last) / 2.0

    def prior(self) -> np.ndarray:
        counts = self.card.get("train_label_counts", {})
        total = sum(counts.values()) or 1
        return np.array([counts.get(label, 0) / total for label in self.labels])


# Turns of a call are scored through numpy, not scikit-learn's Python n-gram
# loop (_count_vocab), which cost 6-7 ms a call; repeated turns (好的, 嗯, 谢谢) are scored
# once per batch.
_WHITE_SPACES = re.compile(r"\s\s+")
_CODE_BITS = 21  # every code point + 1 fits in 21 bits, so a 1-3 gram fits in an int64


def _gram_code(gram: str) -> int:
    code = 0
    for ch in gram:
        code = (code << _CODE_BITS) | (ord(ch) + 1)
    return code


class CharGramCounter:
    """The term counts of a fitted `analyzer="char"` vectorizer, for many texts at once:
    each character n-gram of the concatenated texts becomes one integer (its code
    points side by side) and is looked up in the sorted codes of the vocabulary."""

    def __init__(self, vectorizer: TfidfVectorizer):
        low, high = vectorizer.ngram_range
        if vectorizer.analyzer != "char" or high * _CODE_BITS > 63 or not vectorizer.lowercase:
            raise ValueError("CharGramCounter needs a lower-casing char vectorizer of n <= 3")
        self.ngram_range = (low, high)
        self.width = len(vectorizer.vocabulary_)
        codes = np.array([_gram_code(t) for t in vectorizer.vocabulary_], dtype=np.int64)
        columns = np.array(list(vectorizer.vocabulary_.values()), dtype=np.int64)
        order = np.argsort(codes)
        self.codes, self.columns = codes[order], columns[order]

    def counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text index, column, count) of every known n-gram of each text."""
        texts = [_WHITE_SPACES.sub(" ", t.lower()) for t in texts]
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        points = points.astype(np.int64) + 1
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        keys = []
        low, high = self.ngram_range
        for n in range(low, high + 1):
            if len(points) < n:
                continue
            starts = np.arange(len(points) - n + 1)
            starts = starts[doc[starts] == doc[starts + n - 1]]  # within one text
            code = points[starts]
            for k in range(1, n):
                code = (code << _CODE_BITS) | points[starts + k]
            at = np.minimum(np.searchsorted(self.codes, code), len(self.codes) - 1)
            known = self.codes[at] == code
            keys.append(doc[starts][known] * self.width + self.columns[at[known]])
        return _summed(keys, self.width)


def _summed(keys: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, count) of (row * width + column) keys; the key arrays must not share
    a key (the n-gram sizes of a text have columns of their own), so each is summed
    alone: smaller sorts."""
    uniques, counts = [], []
    for block in keys:
        unique, count = np.unique(block, return_counts=True)
        uniques.append(unique)
        counts.append(count)
    flat = np.concatenate(uniques) if uniques else np.zeros(0, dtype=np.int64)
    total = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return flat // width, flat % width, total.astype(np.float64)


class TokenCounter:
    """The term counts of a fitted vectorizer with any other analyzer (jieba words). With
    `word_tokens`, which reads a text line by line (turn by turn), each line's columns
    are looked up once and kept: a call's turns recur in its joined side."""

    LINE_CACHE = 200000

    def __init__(self, vectorizer: TfidfVectorizer):
        self.analyzer = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.width = len(self.vocabulary)
        self.per_line = vectorizer.analyzer is word_tokens
        self._lines: dict[str, np.ndarray] = {}

    def _columns(self, text: str) -> np.ndarray:
        vocabulary = self.vocabulary
        return np.array([j for j in (vocabulary.get(t) for t in self.analyzer(text))
                         if j is not None], dtype=np.int64)

    def _line_columns(self, line: str) -> np.ndarray:
        found = self._lines.get(line)
        if found is None:
            if len(self._lines) >= self.LINE_CACHE:
                self._lines.clear()
            found = self._lines[line] = self._columns(line)
        return found

    def counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts, lengths = [], []
        for text in texts:
            pieces = ([self._line_columns(line) for line in text.split("\n")]
                      if self.per_line else [self._columns(text)])
            parts += pieces
            lengths.append(sum(len(p) for p in pieces))
        columns = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        docs = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        return _summed([docs * self.width + columns], self.width)


class CalibratedTaskScorer:
    """predict_proba of a task pipeline (FeatureUnion of l2 TF-IDF vectorizers and
    optionally a WordVectorFeatures block, weighted per block, then a linear SVM kept as one estimator, sigmoid-calibrated or a
    SoftmaxCalibratedSVM), for a batch of texts at once:
    term counts (CharGramCounter, TokenCounter), tf-idf, norms and
    linear scores and the sigmoids with numpy."""

    def __init__(self, pipeline: Pipeline, labels: Sequence[str]):
        features = pipeline.named_steps["features"]
        model = pipeline.named_steps["model"]
        if isinstance(model, SoftmaxCalibratedSVM):
            svm, calibrated = model.svm_, None
        else:
            calibrated = model.calibrated_classifiers_[0]
            svm = calibrated.estimator
        self.blocks = []
        block_weights = features.transformer_weights or {}
        for block_name, vectorizer in features.transformer_list:
            if isinstance(vectorizer, WordVectorFeatures):
                self.blocks.append((vectorizer, False, None,
                                    float(block_weights.get(block_name, 1.0))))
                continue
            if vectorizer.norm != "l2" or not vectorizer.use_idf:
                raise ValueError("CalibratedTaskScorer needs l2 TF-IDF vectorizers")
            counter = (CharGramCounter(vectorizer) if vectorizer.analyzer == "char"
                       else TokenCounter(vectorizer))
            self.blocks.append((counter, bool(vectorizer.sublinear_tf),
                                np.asarray(vectorizer.idf_, dtype=np.float64),
                                float(block_weights.get(block_name, 1.0))))
        self.coef = np.asarray(svm.coef_, dtype=np.float64).T  # (n_features, 1 or k)
        self.intercept = np.asarray(svm.intercept_, dtype=np.float64)
        self.softmax = None
        if calibrated is None:  # SoftmaxCalibratedSVM: logistic regression on the scores
            calibrator = model.calibrator_
            classes = [str(c) for c in calibrator.classes_]
            self.softmax = (np.asarray(calibrator.coef_, dtype=np.float64).T,
                            np.asarray(calibrator.intercept_, dtype=np.float64))
        else:
            classes = [str(c) for c in calibrated.classes]
            self.a = np.array([c.a_ for c in calibrated.calibrators], dtype=float)
            self.b = np.array([c.b_ for c in calibrated.calibrators], dtype=float)
        self.binary = len(classes) == 2
        estimator_classes = [str(c) for c in svm.classes_]
        self.columns = [classes.index(c) for c in estimator_classes]
        self.classes = classes
        self.order = [classes.index(label) if label in classes else -1 for label in labels]

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """The SVM's decision values (rows: texts), block by block: tf (sublinear), idf,
        l2 norm per text, then the weights of the block's columns."""
        total = np.tile(self.intercept, (len(texts), 1))
        offset = 0
        for counter, sublinear, idf, block_weight in self.blocks:
            if isinstance(counter, WordVectorFeatures):  # a dense block
                width = counter.n_features_out_
                total += (block_weight * counter.dense(texts)) @ self.coef[offset:offset + width]
                offset += width
                continue
            rows, columns, tf = counter.counts(texts)
            if sublinear:
                tf = 1.0 + np.log(tf)
            weight = tf * idf[columns]
            norms = np.sqrt(np.bincount(rows, weights=weight * weight, minlength=len(texts)))
            norms[norms == 0] = 1.0
            weight = weight * (block_weight / norms[rows])
            coef = self.coef[offset + columns]
            for k in range(total.shape[1]):
                total[:, k] += np.bincount(rows, weights=weight * coef[:, k],
                                           minlength=len(texts))
            offset += counter.width
        return total

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.order)))
        distinct = list(dict.fromkeys(texts))
        position = {text: i for i, text in enumerate(distinct)}
        decision = self.decision(distinct)
        proba = np.zeros((len(distinct), len(self.classes)))
        if self.softmax is not None:
            coef, intercept = self.softmax
            scores = decision @ coef + intercept  # decision columns: the SVM's labels
            if scores.shape[1] == 1:  # two labels: one logistic score for the second
                scores = np.hstack([np.zeros_like(scores), scores])
            scores -= scores.max(axis=1, keepdims=True)
            proba = np.exp(scores)
            proba /= proba.sum(axis=1, keepdims=True)
            return self._reordered(proba, texts, position)
        calibrated = 1.0 / (1.0 + np.exp(self.a * decision + self.b))
        if self.binary:
            proba[:, 1] = calibrated[:, 0]
            proba[:, 0] = 1.0 - calibrated[:, 0]
        else:
            proba[:, self.columns] = calibrated
            total = proba.sum(axis=1, keepdims=True)
            proba = np.where(total > 0, proba / np.where(total > 0, total, 1.0),
                             1.0 / len(self.classes))
        return self._reordered(proba, texts, position)

    def _reordered(self, proba: np.ndarray, texts: Sequence[str],
                   position: Mapping[str, int]) -> np.ndarray:
        out = np.zeros((len(proba), len(self.order)))
        for j, column in enumerate(self.order):
            if column >= 0:
                out[:, j] = proba[:, column]
        return out[[position[t] for t in texts]]


def _ordered_probabilities(pipeline: Pipeline, texts: list[str],
                           labels: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, len(labels)))
    matrix = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    out = np.zeros((len(texts), len(labels)))
    for j, label in enumerate(labels):
        if label in classes:
            out[:, j] = matrix[:, classes.index(label)]
    return out


def call_units(task: Task, transcript: Transcript) -> list[str]:
    """The texts a task model reads for a call: the turns on the task's side."""
    return side_turns(transcript_turns(transcript), task.side)


def check_training_labels(task: Task, labels: Sequence[str]) -> None:
    """Raise ValueError when labels are not the task's or there is only one class."""
    unknown = sorted(set(labels) - set(task.labels))
    if unknown:
        raise ValueError(f"labels {', '.join(map(repr, unknown))} are not labels of task "
                         f"{task.name} ({', '.join(task.labels)})")
    if len(set(labels)) < 2:
        raise ValueError(f"training data has a single class: {sorted(set(labels))}")


def train_task_model(task: Task, units: Sequence[Sequence[str]], labels: Sequence[str], *,
                     c: float = 0.3, char_features: int = CHAR_FEATURES,
                     word_features: int = WORD_FEATURES) -> TextModel:
    """Fit the task's pipeline and its naive Bayes baseline on labelled rows (each the
    texts `row_units` gives; a per-turn task learns from each turn with its row's label,
    the others from the row's texts joined). Raises ValueError on labels that are not the
    task's, a single class, or no text."""
    texts, targets = training_texts(task, units, labels)
    if not texts:
        raise ValueError("no training texts")
    check_training_labels(task, targets)
    prepared = [model_text(t) for t in texts]
    pipeline = task_pipeline(c, char_features, word_features, task=task)
    pipeline.fit(prepared, targets)
    baseline = naive_bayes_pipeline().fit(prepared, targets)
    _compact(pipeline)
    _compact(baseline)
    counts = Counter(labels)
    card = {"name": task.name, "kind": "task", "task": task.name, "labels": list(task.labels),
            "positive_label": task.positive, "side": task.side, "per_turn": task.per_turn,
            "train_size": len(labels), "train_texts": len(texts),
            "train_label_counts": {label: counts.get(label, 0) for label in task.labels},
            "train_data_sha256": data_hash([" || ".join(u) for u in units], labels),
            "hyper_parameters": {"C": c, "char_features": char_features,
                                 "word_features": word_features,
                                 "model": model_description(task)}}
    if task.vectors:
        from qa.word_vectors import word_vector_table

        table = word_vector_table()
        card["word_vectors"] = {
            "table": "qa/data/word_vectors_zh.npz", "sha256": table.sha256,
            "words": len(table.words), "dimensions": int(table.vectors.shape[1]),
            "source": "distilled from multilingual-e5-small (MIT licence) by "
                      "scripts/distil_word_vectors.py"}
    return TextModel(task, pipeline, card, baseline)


def training_texts(task: Task, units: Sequence[Sequence[str]],
                   labels: Sequence[str]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    targets: list[str] = []
    for unit, label in zip(units, labels):
        if not unit:
            continue
        for text in (unit if task.per_turn else ["\n".join(unit)]):
            texts.append(text)
            targets.append(label)
    return texts, targets


def choose_c(task: Task, units: Sequence[Sequence[str]], labels: Sequence[str],
             grid: Sequence[float] = (0.1, 0.3, 1.0), folds: int = 3, seed: int = 0) -> dict:
    """C by stratified cross-validation on the training rows (macro-F1, or ROC AUC for
    a two-class task). Returns {"C": best, "scores": {C: score}, "metric": name}."""
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    texts, targets = training_texts(task, units, labels)
    prepared = np.array([model_text(t) for t in texts], dtype=object)
    y = np.array(targets)
    scores: dict[float, float] = {}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for c in grid:
        fold_scores = []
        for train, test in splitter.split(prepared, y):
            pipeline = task_pipeline(c, task=task).fit(list(prepared[train]), list(y[train]))
            if task.positive is not None:
                p = _ordered_probabilities(pipeline, list(prepared[test]), task.labels)
                fold_scores.append(roc_auc_score(y[test] == task.positive,
                                                 p[:, task.labels.index(task.positive)]))
            else:
                fold_scores.append(f1_score(y[test], pipeline.predict(list(prepared[test])),
                                            average="macro"))
        scores[c] = float(np.mean(fold_scores))
    best = max(scores, key=lambda k: scores[k])
    return {"C": best, "scores": scores,
            "metric": "roc_auc" if task.positive is not None else "macro_f1",
            "folds": folds}


# --- predictions for a call -----------------------------------------------------------------

def emotion_rollup(labels: Sequence[str], matrix: np.ndarray,
                   focus: str = "angry") -> dict[str, Any]:
    """Per-call summary of per-turn emotion probabilities: each label's share of turns
    (by the most probable label of each turn), its peak probability, and the trend of
    P(focus) over the call (mean of the second half minus the first half; above zero:
    the customer got angrier)."""
    if len(matrix) == 0:
        return {"turns": 0}
    top = matrix.argmax(axis=1)
    share = {label: float(np.mean(top == j)) for j, label in enumerate(labels)}
    peak = {label: float(matrix[:, j].max()) for j, label in enumerate(labels)}
    column = matrix[:, labels.index(focus)] if focus in labels else np.zeros(len(matrix))
    half = len(column) // 2
    trend = float(column[half:].mean() - column[:half].mean()) if half else 0.0
    peak_turn = int(column.argmax())
    return {"turns": int(len(matrix)), "share": share, "peak": peak,
            f"{focus}_share": share.get(focus, 0.0), f"{focus}_peak": peak.get(focus, 0.0),
            f"{focus}_peak_turn": peak_turn, f"{focus}_trend": round(trend, 4),
            "turn_labels": [labels[j] for j in top]}


def predict_calls(model: TextModel, transcripts: Sequence[Transcript]) -> list[Prediction | None]:
    """The model's prediction for each call (None for a call with nothing on the task's
    side). Two-class and multi-class tasks: label, P(label) and every label's P; per-turn
    tasks: scores are each label's peak over the turns and `detail` the roll-up."""
    units = [call_units(model.task, t) for t in transcripts]
    present = [i for i, u in enumerate(units) if u]
    out: list[Prediction | None] = [None] * len(transcripts)
    if not present:
        return out
    labels = model.labels
    if model.task.per_turn:
        flat = [text for i in present for text in units[i]]
        matrix = model.probabilities(flat)
        at = 0
        for i in present:
            part = matrix[at:at + len(units[i])]
            at += len(units[i])
            mean = part.mean(axis=0)
            rollup = emotion_rollup(labels, part)
            best = int(mean.argmax())
            out[i] = Prediction(model.name, labels[best], float(mean[best]),
                                scores=rollup["peak"], detail=rollup)
        return out
    matrix = model.unit_probabilities([units[i] for i in present])
    for row, i in zip(matrix, present):
        best = int(row.argmax())
        out[i] = Prediction(model.name, labels[best], float(row[best]),
                            scores={label: float(p) for label, p in zip(labels, row)})
    return out


def active_learning_order(model: TextModel, transcripts: Sequence[Transcript]) -> list[tuple[str, float]]:
    """Calls for reviewers to label, least certain first: (call_id, margin between the two
    most probable labels). Calls with nothing on the task's side are left out."""
    predictions = predict_calls(model, transcripts)
    ranked = []
    for transcript, prediction in zip(transcripts, predictions):
        if prediction is None:
            continue
        top = sorted(prediction.scores.values(), reverse=True) + [0.0]
        ranked.append((transcript.call_id, round(top[0] - top[1], 6)))
    return sorted(ranked, key=lambda pair: pair[1])


def predict_for_rubric(rubric: Any, transcript: Transcript) -> dict[str, Prediction]:
    """The predictions of the models a bound rubric's classifier checks name, for one
    call, keyed by model name (a call with nothing on a model's side has none, and the
    check is then not applicable)."""
    predictions: dict[str, Prediction] = {}
    for name, model in rubric.classifier_models().items():
        [prediction] = predict_calls(model, [transcript])
        if prediction is not None:
            predictions[name] = prediction
    return predictions
