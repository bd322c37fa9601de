"""Static Chinese word vectors for task models: mean-pooled word vectors of a text as a
dense feature block beside its TF-IDF blocks (Task.vectors). Tried for customer_emotion
and not shipped: +0.007 cross-validated macro-F1, inside the noise
(docs/emotion_variants.md, round 3).

The table (`qa/data/word_vectors_zh.npz`) was distilled from the sentence encoder
multilingual-e5-small (MIT licence) by scripts/distil_word_vectors.py, the way model2vec
distils static embeddings: each word is encoded alone ("passage: 生气"), the vectors are
centred, reduced to 64 dimensions by PCA and stored as int8 with one scale per
dimension. Its words: the most frequent words of jieba's dictionary (general Chinese,
flagged `general`) and the words of the customer_emotion training set. The encoder runs
only to make the table; predicting needs numpy alone and costs one dictionary look-up a
word. What it adds over the TF-IDF blocks is knowledge of words the 2,000 training posts
do not have: an unseen word lands near the seen words the encoder finds similar.
(Encoding whole turns with the encoder helps far more, but costs about 65 ms of CPU a
turn, thousands of times the classifiers' prediction budget.)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

TABLE = "word_vectors_zh.npz"


class WordVectorError(RuntimeError):
    """The word-vector table is missing, broken, or not the one a model was trained with."""


@dataclass(frozen=True)
class WordVectorTable:
    words: tuple[str, ...]
    vectors: np.ndarray  # (words, dims) float32, already de-quantised
    general: np.ndarray  # bool per word: from the general word list (not the training set)
    sha256: str

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


@functools.lru_cache(maxsize=1)
def word_vector_table(name: str = TABLE) -> WordVectorTable:
    """The packaged table (loaded once). Raises WordVectorError when it cannot be read."""
    resource = importlib.resources.files("qa") / "data" / name
    try:
        raw = resource.read_bytes()
    except OSError as exc:
        raise WordVectorError(f"cannot read the word-vector table {resource}: {exc}") from None
    import io

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            words = tuple(str(w) for w in data["words"].tolist())
            vectors = data["vectors"].astype(np.float32) * data["scales"].astype(np.float32)
            general = data["general"].astype(bool)
    except (KeyError, ValueError, OSError) as exc:
        raise WordVectorError(f"{resource} is not a word-vector table: {exc}") from None
    if not (len(words) == len(vectors) == len(general)):
        raise WordVectorError(f"{resource}: words and vectors differ in length")
    return WordVectorTable(words, vectors, general, hashlib.sha256(raw).hexdigest())


class WordVectorFeatures(TransformerMixin, BaseEstimator):
    """The mean of the table's vectors of a text's words (`analyzer`, words of two
    characters or more), minus the training texts' mean, l2-normalised; a text with no
    known word gets zeros. `weighting` "idf": each word's vector weighted by its inverse
    document frequency in the fitted texts. `table` names the packaged table; its sha256 is kept at fit and
    checked at transform, so a model is never fed vectors from another table."""

    def __init__(self, analyzer: Callable[[str], list[str]] | None = None, table: str = TABLE,
                 weighting: str = "mean"):
        self.analyzer = analyzer
        self.table = table
        self.weighting = weighting

    def _table(self) -> WordVectorTable:
        return word_vector_table(self.table)

    def _words(self, text: str) -> list[str]:
        analyzer = self.analyzer or (lambda t: t.split())
        return [w for w in analyzer(text) if len(w) >= 2]

    def known(self, table: WordVectorTable) -> dict[str, int]:
        """The words this transformer looks up (all of the table's)."""
        return table.index

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Mean word vector of each text (zeros where no word is in the table)."""
        table = self._table()
        index = self.known(table)
        rows, columns = [], []
        for i, text in enumerate(texts):
            for w in self._words(text):
                j = index.get(w)
                if j is not None:
                    rows.append(i)
                    columns.append(j)
        counts = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)),
                               shape=(len(texts), len(table.words)))
        if self.weighting == "idf":
            counts = sp.csr_matrix(counts.multiply(self._idf(counts)[None, :]))
        found = np.asarray(counts.sum(axis=1)).ravel()
        summed = counts @ table.vectors
        return summed / np.maximum(found, 1.0)[:, None]

    def _idf(self, counts) -> np.ndarray:
        if getattr(self, "idf_", None) is None:  # fitting: from these texts' counts
            df = np.asarray((counts > 0).sum(axis=0)).ravel()
            self.idf_ = np.log((1 + counts.shape[0]) / (1 + df)).astype(np.float32) + 1
        return self.idf_

    def fit(self, X, y=None):
        table = self._table()
        self.idf_ = None
        self.table_sha256_ = table.sha256
        self.n_features_out_ = table.vectors.shape[1]
        pooled = self.pooled(list(X))
        self.mean_ = pooled.mean(axis=0) if len(pooled) else np.zeros(self.n_features_out_)
        return self

    def dense(self, texts: Sequence[str]) -> np.ndarray:
        table = self._table()
        if table.sha256 != self.table_sha256_:
            raise WordVectorError(f"the installed word-vector table {self.table} is not the one "
                                  "this model was trained with: retrain the model")
        pooled = self.pooled(texts)
        empty = ~pooled.any(axis=1)
        out = pooled - self.mean_
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.where(norms > 0, norms, 1.0)
        out[empty] = 0.0
        return out

    def transform(self, X):
        return sp.csr_matrix(self.dense(list(X)).astype(np.float32))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"vec{k}" for k in range(self.n_features_out_)], dtype=object)
