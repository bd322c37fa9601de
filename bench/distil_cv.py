"""Cross-validated distillation of the e5 teacher into the shipped customer_emotion
pipeline (run on demand, not a test; figures logged in docs/emotion_variants.md, round 4).

    .venv/bin/python bench/distil_cv.py [STUDENT ...] [--seeds 0 1 2] [--folds 5]

Only the 2,000 training posts (smp2020_ewect_usual_eval.csv) and unlabelled text of the
training-material sets take part; needs the encodings cached by bench/distil_encode.py
(texts not encoded are left out, and the counts used are printed). In each fold, the
teacher (qa.distil.teacher_pipeline, as bench/emotion_cv.py `e5_sentences_c0.2_w0.5`:
the task's TF-IDF and cue features + whole-text e5 encodings at weight 0.5) is fitted on
that fold's training posts and labels (a) the augmented copies of those posts only
(never a held-out post's copies) and (b) the unlabelled texts; each student (the
shipped pipeline, by qa.distil.fit_student or fit_logit_student: `logit_*`) learns
from the fold's gold posts and those pseudo-labelled rows and is measured on the
held-out posts. Teacher probabilities are cached per seed and fold in bench/out.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from sklearn.model_selection import StratifiedKFold  # noqa: E402

from distil_encode import CACHE, training_posts, unlabelled  # noqa: E402
from emotion_cv import ordered  # noqa: E402
from qa.classify import TASKS, task_pipeline  # noqa: E402
from qa.distil import (augment, fit_logit_student, fit_student, pseudo_rows,  # noqa: E402
                       teacher_logits, teacher_pipeline)  # noqa: E402
from qa.evaluation import evaluate  # noqa: E402
from qa.labelled import read_labelled  # noqa: E402

from distil_encode import TRAINING  # noqa: E402

LABELS = TASKS["customer_emotion"].labels
OUT = REPO / "bench" / "out"


@dataclass(frozen=True)
class Student:
    copies: int = 0          # augmented copies per training post (0: none)
    unlabelled: bool = False
    mode: str = "soft"       # soft (teacher's distribution as weights) or hard
    weight: float = 1.0      # weight of a pseudo row (times P for soft)
    threshold: float = 0.0   # hard: minimum top P
    c: float = 0.2
    aug_weight: float | None = None  # weight of augmented rows if not `weight`
    logit: bool = False      # logit matching (fit_logit_student) instead of pseudo rows
    beta: float = 0.3
    alpha: float = 1.0


def students() -> dict[str, Student]:
    out = {"gold_only": Student()}
    for k in (1, 2, 3, 4, 8):
        for w in (0.3, 0.5, 1.0):
            out[f"aug{k}_soft_w{w}"] = Student(copies=k, weight=w)
            out[f"aug{k}_hard_w{w}"] = Student(copies=k, weight=w, mode="hard")
            out[f"aug{k}_hard0.6_w{w}"] = Student(copies=k, weight=w, mode="hard", threshold=0.6)
            out[f"aug{k}_unl_soft_w{w}"] = Student(copies=k, unlabelled=True, weight=w)
            out[f"aug{k}_unl_hard_w{w}"] = Student(copies=k, unlabelled=True, weight=w, mode="hard")
            out[f"aug{k}_unl_hard0.6_w{w}"] = Student(copies=k, unlabelled=True, weight=w,
                                                      mode="hard", threshold=0.6)
    for w in (0.1, 0.3, 0.5, 1.0):
        out[f"unl_soft_w{w}"] = Student(unlabelled=True, weight=w)
        out[f"unl_hard_w{w}"] = Student(unlabelled=True, weight=w, mode="hard")
        out[f"unl_hard0.6_w{w}"] = Student(unlabelled=True, weight=w, mode="hard", threshold=0.6)
    for c in (0.1, 0.3, 0.5):
        out[f"gold_only_c{c}"] = Student(c=c)
        for k in (4, 8):
            out[f"aug{k}_unl_soft_w0.5_c{c}"] = Student(copies=k, unlabelled=True, weight=0.5, c=c)
            out[f"aug{k}_soft_w0.5_c{c}"] = Student(copies=k, weight=0.5, c=c)
            out[f"aug{k}_soft_w1.0_c{c}"] = Student(copies=k, weight=1.0, c=c)
    for src, k, unl in (("aug2", 2, False), ("unl", 0, True), ("aug2_unl", 2, True),
                        ("aug3_unl", 3, True), ("aug4_unl", 4, True), ("aug4", 4, False),
                        ("aug3", 3, False)):
        for beta in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0):
            for alpha in (0.1, 0.3, 1.0, 3.0):
                out[f"logit_{src}_b{beta}_a{alpha}"] = Student(copies=k, unlabelled=unl, logit=True,
                                                               beta=beta, alpha=alpha)
    return out


def teacher_probabilities(seed: int, fold: int, train_texts, y_train, texts) -> np.ndarray:
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    path = OUT / f"distil_teacher_s{seed}_f{fold}_{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["p"]
    teacher = teacher_pipeline(TASKS["customer_emotion"], CACHE, 0.2, 0.5)
    teacher.fit(list(train_texts), list(y_train))
    p = ordered(teacher, list(texts))
    np.savez(path, p=p)
    return p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("students", nargs="*")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--max-copies", type=int, default=8)
    args = parser.parse_args()
    known = students()
    names = args.students or ["gold_only"]
    posts = training_posts()
    y = np.array(read_labelled(TRAINING).labels)
    encoded = CACHE.load()
    if any(p not in encoded for p in posts):
        sys.exit("encode the training posts first: bench/distil_encode.py train")
    copies = {i: [a for a in augment(t, args.max_copies, 0) if a in encoded]
              for i, t in enumerate(posts)}
    extra = [t for t in unlabelled() if t in encoded]
    print(f"augmented copies encoded: {sum(map(len, copies.values()))} "
          f"(posts with any: {sum(1 for v in copies.values() if v)}); "
          f"unlabelled encoded: {len(extra)}", flush=True)
    results = {n: [] for n in names}
    teacher_scores = []
    started = time.process_time()
    for seed in args.seeds:
        splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=seed)
        for fold, (train, test) in enumerate(splitter.split(posts, y)):
            train_texts = [posts[i] for i in train]
            test_texts = [posts[i] for i in test]
            aug_texts, aug_sources, aug_rank = [], [], []
            for local, i in enumerate(train):
                for r, a in enumerate(copies[i]):
                    aug_texts.append(a)
                    aug_sources.append(local)
                    aug_rank.append(r)
            pool = aug_texts + extra
            p_pool = teacher_probabilities(seed, fold, train_texts, y[train],
                                           pool + test_texts)
            p_test_teacher = p_pool[len(pool):]
            teacher_scores.append(evaluate("t", list(y[test]), p_test_teacher, LABELS).macro_f1)
            p_pool = p_pool[:len(pool)]
            aug_rank = np.array(aug_rank)
            for name in names:
                s = known[name]
                chosen = np.concatenate([
                    np.flatnonzero(aug_rank < s.copies),
                    len(aug_texts) + np.arange(len(extra)) if s.unlabelled else np.array([], int)
                ]).astype(int)
                if s.logit:
                    order = [LABELS.index(c) for c in sorted(LABELS)]
                    sources = np.array([aug_sources[t] if t < len(aug_texts) else -1
                                        for t in chosen], dtype=int)
                    student = fit_logit_student(
                        task_pipeline(s.c, task=TASKS["customer_emotion"]), train_texts, y[train],
                        [pool[t] for t in chosen], teacher_logits(p_pool[chosen][:, order]),
                        sources, s.beta, s.alpha)
                    e = evaluate("s", list(y[test]), ordered(student, test_texts), LABELS)
                    results[name].append((e.macro_f1, e.per_class["angry"].f1, e.reliability.ece,
                                          len(chosen)))
                    continue
                rows, labels, weights = pseudo_rows(p_pool[chosen], LABELS, s.weight, s.mode,
                                                    s.threshold)
                texts_of = chosen[rows]
                if s.aug_weight is not None:
                    weights = np.where(texts_of < len(aug_texts),
                                       weights * s.aug_weight / s.weight, weights)
                sources = np.array([aug_sources[t] if t < len(aug_texts) else -1 for t in texts_of],
                                   dtype=int)
                student = fit_student(task_pipeline(s.c, task=TASKS["customer_emotion"]),
                                      train_texts, y[train], [pool[t] for t in texts_of],
                                      labels, weights, sources)
                e = evaluate("s", list(y[test]), ordered(student, test_texts), LABELS)
                results[name].append((e.macro_f1, e.per_class["angry"].f1, e.reliability.ece,
                                      len(labels)))
            print(f"seed {seed} fold {fold}: teacher {teacher_scores[-1]:.4f}  " +
                  "  ".join(f"{n} {results[n][-1][0]:.4f}" for n in names) +
                  f"  [{time.process_time() - started:.0f} s CPU]", flush=True)
    print(f"{'teacher e5_sentences_c0.2_w0.5':40s} macro-F1 {np.mean(teacher_scores):.4f}")
    for name in names:
        r = np.array(results[name])
        print(f"{name:40s} macro-F1 {r[:, 0].mean():.4f} (fold sd {r[:, 0].std():.3f})  "
              f"angry F1 {r[:, 1].mean():.4f}  ECE {r[:, 2].mean():.4f}  "
              f"pseudo rows {r[:, 3].mean():.0f}", flush=True)


if __name__ == "__main__":
    main()
