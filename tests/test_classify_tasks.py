"""Task classifiers (complaint_risk, customer_emotion, call_reason): training, evaluation,
persistence checks, bad input, reviewer labels from a database, and predictions in
scoring. Real CSV files, real subprocess CLI runs, real SQLite files."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from qa.classify import (TASKS, active_learning_order, dialogue_turns, emotion_rollup,
                         predict_calls, row_units, train_task_model)
from qa.errors import InputError
from qa.evaluation import evaluate, roc_auc_score
from qa.labelled import read_db_labels, read_labelled
from qa.text import to_display
from qa.models import ModelError, load_model, save_model
from qa.training import evaluate_model, train_and_save
from tests.conftest import REPO, SHARED, run_qa, transcript

SEED = REPO / "data" / "call_reason_seed.csv"
HELDOUT = REPO / "data" / "call_reason_heldout.csv"
LABELS = SHARED / "data" / "labels"


@pytest.fixture(scope="module")
def reason_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "call_reason"
    result = train_and_save("call_reason", read_labelled(SEED), out)
    return result


def write_rubric(path, item_id, check, flag=None):
    """A one-item rubric (and optionally one flag) with the given check YAML."""
    text = (f'id: {path.stem}\nname: {path.stem}\nversion: "1"\nlanguage: zh\npass_mark: 60\n'
            f"sections:\n  - id: s\n    name: s\n    items:\n      - id: {item_id}\n"
            f"        name: {item_id}\n        points: 10\n        check: {check}\n")
    if flag is not None:
        text += f"flags:\n  - id: {flag[0]}\n    name: {flag[0]}\n    check: {flag[1]}\n"
    path.write_text(text, encoding="utf-8")
    return path


def write_csv(path, rows, header=("text", "label")):
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


# --- reading labelled rows --------------------------------------------------------------------

def test_a_dialogue_row_gives_the_task_its_side_of_the_call():
    text = "customer: 卡丢了 || agent: 您好，请问尾号是多少 || customer: 三四五六，快帮我冻结"
    assert dialogue_turns(text)[1] == ("agent", "您好，请问尾号是多少")
    assert row_units(TASKS["complaint_risk"], text) == ["卡丢了", "三四五六，快帮我冻结"]
    assert row_units(TASKS["call_reason"], "我想提额") == ["我想提额"]


def test_a_csv_without_a_label_column_is_refused_naming_the_column(tmp_path):
    path = write_csv(tmp_path / "x.csv", [("卡丢了",)], header=("text",))
    with pytest.raises(InputError, match=r"x\.csv:label: missing column"):
        read_labelled(path)


# --- training and the card ---------------------------------------------------------------------

def test_training_writes_a_card_with_held_out_figures_and_baselines(reason_model):
    card = json.loads((reason_model.directory / "card.json").read_text(encoding="utf-8"))
    assert card["task"] == "call_reason" and card["labels"] == list(TASKS["call_reason"].labels)
    assert card["train_size"] == 195 and len(card["train_data_sha256"]) == 64
    assert {"scikit-learn", "skops", "numpy", "jieba"} <= set(card["versions"])
    held = card["metrics"]["held_out"]
    assert set(held["baselines"]) == {"majority", "naive_bayes"}
    assert held["macro_f1"] > held["baselines"]["majority"]["macro_f1"]
    assert (reason_model.directory / "baseline_nb.skops").is_file()


def test_a_saved_model_predicts_the_same_after_loading(reason_model):
    loaded = load_model(reason_model.directory)
    texts = ["我的卡丢了帮我挂失", "我要投诉你们的客服"]
    assert np.allclose(loaded.probabilities(texts), reason_model.model.probabilities(texts))
    assert [loaded.labels[i] for i in loaded.probabilities(texts).argmax(axis=1)] == ["挂失", "投诉"]


def test_the_seed_model_beats_both_baselines_on_the_held_out_set(reason_model):
    comparison = evaluate_model(load_model(reason_model.directory), read_labelled(HELDOUT))
    baselines = {b.name: b for b in comparison.baselines}
    assert comparison.model.macro_f1 > baselines["naive_bayes"].macro_f1
    assert comparison.model.macro_f1 > baselines["majority"].macro_f1 + 0.3


def test_a_model_whose_card_labels_do_not_fit_its_task_is_refused(reason_model, tmp_path):
    copy = tmp_path / "call_reason"
    shutil.copytree(reason_model.directory, copy)
    card = json.loads((copy / "card.json").read_text(encoding="utf-8"))
    card["labels"] = card["labels"][:-1]
    (copy / "card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match="labels"):
        load_model(copy)


# --- evaluation figures ---------------------------------------------------------------------------

def test_evaluation_counts_the_confusion_matrix_and_per_class_f1():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    e = evaluate("m", ["low", "high", "high", "low"], probabilities, ("low", "high"), "high")
    assert e.confusion == ((1, 1), (1, 1))
    assert e.per_class["high"].precision == 0.5 and e.per_class["high"].recall == 0.5
    assert e.roc_auc == 0.75  # 3 of the 4 positive-negative pairs ranked right
    assert sum(b.count for b in e.reliability.bins) == 4


def test_roc_auc_counts_ties_as_half():
    assert roc_auc_score([True, False], [0.5, 0.5]) == 0.5
    assert roc_auc_score([True, True], [0.1, 0.2]) is None


def test_emotion_rollup_reports_share_peak_and_trend():
    labels = TASKS["customer_emotion"].labels
    calm = [0.05, 0.1, 0.7, 0.05, 0.05, 0.05]
    angry = [0.8, 0.02, 0.1, 0.04, 0.02, 0.02]
    rollup = emotion_rollup(labels, np.array([calm, calm, angry, angry]))
    assert rollup["angry_share"] == 0.5 and rollup["angry_peak"] == 0.8
    assert rollup["angry_trend"] > 0.7 and rollup["angry_peak_turn"] == 2


# --- the command line ------------------------------------------------------------------------------

def test_qa_train_then_evaluate_as_json(tmp_path):
    out = tmp_path / "reason"
    trained = run_qa("train", "--task", "call_reason", "--data", str(SEED), "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert "naive_bayes" in trained.stdout and (out / "card.json").is_file()
    result = run_qa("evaluate", str(out), "--data", str(HELDOUT), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"macro_f1", "per_class", "confusion", "reliability", "baselines"} <= set(report)
    assert report["rows"] == 48 and report["roc_auc"] is None
    assert set(report["per_class"]["挂失"]) == {"precision", "recall", "f1", "support"}


@pytest.mark.skipif(not LABELS.is_dir(), reason="../shared/data/labels is absent")
def test_a_two_class_evaluation_maps_the_positive_label_and_reports_roc_auc(tmp_path):
    rows = list(csv.DictReader((LABELS / "waimai_10k.csv").open(encoding="utf-8")))
    train = write_csv(tmp_path / "train.csv", [(r["text"], r["label"]) for r in rows[:300]])
    test = write_csv(tmp_path / "test.csv", [(r["text"], r["label"]) for r in rows[-200:]])
    out = tmp_path / "risk"
    trained = run_qa("train", "--task", "complaint_risk", "--data", str(train),
                     "--positive", "negative", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    result = run_qa("evaluate", str(out), "--data", str(test), "--positive", "negative",
                    "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["roc_auc"] > 0.8 > report["baselines"]["majority"]["roc_auc"]
    table = run_qa("evaluate", str(out), "--data", str(test), "--positive", "negative")
    assert "ROC AUC" in table.stdout and "confusion" in table.stdout


@pytest.mark.parametrize("rows, header, message", [
    ([], None, "empty file"),
    ([("卡丢了",)], ("text",), "label: missing column"),
    ([("卡丢了", "挂失"), ("补卡", "挂失")], ("text", "label"), "single class"),
    ([("卡丢了", "lost"), ("提额", "额度")], ("text", "label"), "unknown labels 'lost'"),
])
def test_bad_training_data_exits_2_naming_the_file(tmp_path, rows, header, message):
    path = write_csv(tmp_path / "bad.csv", rows, header=header)
    result = run_qa("train", "--task", "call_reason", "--data", str(path), "--out",
                    str(tmp_path / "m"))
    assert result.returncode == 2
    assert "bad.csv" in result.stderr and message in result.stderr
    assert not (tmp_path / "m").exists()


def test_unknown_labels_at_evaluation_exit_2(reason_model, tmp_path):
    path = write_csv(tmp_path / "eval.csv", [("卡丢了", "挂失"), ("我要退货", "退货")])
    result = run_qa("evaluate", str(reason_model.directory), "--data", str(path))
    assert result.returncode == 2
    assert "eval.csv" in result.stderr and "'退货'" in result.stderr


def test_a_model_directory_from_another_version_exits_2(reason_model, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(reason_model.directory, copy)
    card = json.loads((copy / "card.json").read_text(encoding="utf-8"))
    card["versions"]["scikit-learn"] = "0.24.2"
    (copy / "card.json").write_text(json.dumps(card), encoding="utf-8")
    result = run_qa("evaluate", str(copy), "--data", str(HELDOUT))
    assert result.returncode == 2
    assert "card.json" in result.stderr and "0.24.2" in result.stderr


# --- reviewer labels from the database and the labelling queue --------------------------------

def make_store(path, calls):
    """A real results database holding `calls` ({call_id: [(speaker, text)]}), scored."""
    from qa import store
    from qa.rubric import score_transcript
    from tests.conftest import bundled, transcript

    db = store.open_store(path)
    rubric = bundled("zh-bank-hotline")
    stored = []
    for call_id, turns in calls.items():
        t = transcript([(speaker, i * 3.0, i * 3.0 + 2.5, text)
                        for i, (speaker, text) in enumerate(turns)], call_id=call_id)
        stored.append(store.build_stored_call(
            t, score_transcript(rubric, t), content_sha256=call_id, work_key=call_id,
            engine_id="transcript", source_path=f"{call_id}.json", source_kind="transcript"))
    store.write_calls(db, stored)
    return db


def test_training_from_reviewer_labels_in_the_database(tmp_path):
    db = tmp_path / "qa.db"
    rows = read_labelled(SEED)
    calls = {f"c-{i:03d}": [("agent", "您好，很高兴为您服务"), ("customer", text)]
             for i, text in enumerate(rows.texts)}
    database = make_store(db, calls)
    from qa import store

    for (call_id, _), label in zip(calls.items(), rows.labels):
        store.add_call_label(database, call_id, "call_reason", "其他", "reviewer-a")
        store.add_call_label(database, call_id, "call_reason", label, "lead-b")  # the latest counts
    from_db = read_db_labels(db, "call_reason")
    assert from_db.labels == rows.labels
    # the customer's words, as stored: the display form (full-width punctuation folded)
    assert row_units(TASKS["call_reason"], from_db.texts[0]) == [to_display(rows.texts[0])]
    result = run_qa("train", "--task", "call_reason", "--from-db", str(db), "--out",
                    str(tmp_path / "reason"))
    assert result.returncode == 0, result.stderr
    assert "195 rows" in result.stdout


def test_a_database_without_reviewer_labels_exits_2(tmp_path):
    db = tmp_path / "qa.db"
    make_store(db, {"c-1": [("customer", "卡丢了")]})
    result = run_qa("train", "--task", "call_reason", "--from-db", str(db))
    assert result.returncode == 2 and "call_labels" in result.stderr


def test_the_labelling_queue_puts_the_least_certain_call_first(reason_model):
    calls = [transcript([("customer", 0.0, 2.0, "我的卡丢了，马上帮我挂失冻结")], call_id="sure"),
             transcript([("customer", 0.0, 2.0, "嗯")], call_id="unsure"),
             transcript([("agent", 0.0, 2.0, "您好")], call_id="no-customer")]
    order = active_learning_order(reason_model.model, calls)
    assert [call_id for call_id, _ in order] == ["unsure", "sure"]
    assert order[0][1] < order[1][1]


# --- predictions in scoring -----------------------------------------------------------------------

def test_per_turn_predictions_roll_up_over_the_customer_turns(tmp_path):
    rows = read_labelled(SEED)
    task = TASKS["customer_emotion"]
    angry = [t for t, y in zip(rows.texts, rows.labels) if y == "投诉"]
    calm = [t for t, y in zip(rows.texts, rows.labels) if y == "咨询"]
    model = train_task_model(task, [[t] for t in angry + calm],
                             ["angry"] * len(angry) + ["neutral"] * len(calm))
    call = transcript([("customer", 0.0, 2.0, calm[0]), ("agent", 2.0, 4.0, "好的"),
                       ("customer", 4.0, 6.0, angry[0])])
    [prediction] = predict_calls(model, [call])
    assert prediction.detail["turns"] == 2
    assert prediction.detail["turn_labels"] == ["neutral", "angry"]
    assert prediction.scores["angry"] == prediction.detail["angry_peak"]


def test_a_rubric_classifier_check_is_scored_by_qa_score(reason_model, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(reason_model.directory, models / "call_reason")
    rubric = write_rubric(tmp_path / "reason.yaml", "lost_card_call", "{type: classifier, "
                          "model: call_reason, label: 挂失, min_probability: 0.5}")
    call = {"call_id": "c-lost", "language": "zh", "segments": [
        {"start": 0.0, "end": 2.0, "speaker": "agent", "text": "您好，请讲"},
        {"start": 2.5, "end": 5.0, "speaker": "customer", "text": "我的信用卡丢了，快帮我挂失"}]}
    path = tmp_path / "c-lost.json"
    path.write_text(json.dumps(call, ensure_ascii=False), encoding="utf-8")
    result = run_qa("score", "--transcript", str(path), "--rubric", str(rubric),
                    "--format", "json", env={"QA_MODELS_PATH": str(models)})
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)["items"]
    assert item["status"] == "fail"
    assert "call_reason: P(挂失)" in item["findings"][0]["detail"]


def test_a_rubric_naming_a_label_its_model_lacks_is_refused(reason_model, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(reason_model.directory, models / "call_reason")
    rubric = write_rubric(tmp_path / "bad.yaml", "x",
                          "{type: classifier, model: call_reason, label: high}")
    result = run_qa("rubric", "check", str(rubric), env={"QA_MODELS_PATH": str(models)})
    assert result.returncode == 1 and "has no label 'high'" in result.stderr


def test_the_direct_scorer_gives_the_numbers_of_predict_proba(reason_model):
    from qa.classify import _ordered_probabilities, model_text

    model = reason_model.model
    texts = ["我的卡丢了帮我挂失", "额度能不能提高一点？？", "嗯", "Hello, I lost my card"]
    direct = model.probabilities(texts)
    through_sklearn = _ordered_probabilities(model.pipeline, [model_text(t) for t in texts],
                                             model.labels)
    assert np.allclose(direct, through_sklearn, atol=1e-9)


# --- the shipped models -------------------------------------------------------------------------

def call_with_customer(*turns, call_id="c-1"):
    rows, t = [], 0.0
    for text in turns:
        rows += [("agent", t, t + 2.0, "好的，您请讲"), ("customer", t + 2.5, t + 5.0, text)]
        t += 6.0
    return transcript(rows, call_id=call_id)


def test_the_shipped_complaint_model_ranks_an_angry_call_above_a_satisfied_one():
    from qa.models import ModelDirectory

    model = ModelDirectory()["complaint_risk"]
    angry = call_with_customer("我上周反映的问题到现在都没人处理", "你们到底管不管？？太差劲了，我要投诉")
    happy = call_with_customer("我想调一下临时额度", "好的，已经可以了，谢谢你，服务很好")
    risk, calm = predict_calls(model, [angry, happy])
    assert risk.scores["high"] > 0.7 > calm.scores["high"]


def test_a_rubric_flag_on_the_shipped_emotion_model_reports_the_roll_up(tmp_path):
    rubric = write_rubric(tmp_path / "emotion.yaml", "greeting",
                          "{type: phrase, speaker: agent, phrases: [您好]}", flag=(
                              "angry_customer", "{type: classifier, model: customer_emotion, "
                                                "label: angry, min_probability: 0.6}"))
    call = {"call_id": "c-angry", "language": "zh", "segments": [
        {"start": 0.0, "end": 2.0, "speaker": "agent", "text": "您好，请讲"},
        {"start": 2.5, "end": 5.0, "speaker": "customer", "text": "我想查一下账单"},
        {"start": 5.5, "end": 8.0, "speaker": "agent", "text": "请稍等"},
        {"start": 8.5, "end": 12.0, "speaker": "customer",
         "text": "等了半天还查不到，你们这什么破系统！！气死我了"}]}
    path = tmp_path / "c-angry.json"
    path.write_text(json.dumps(call, ensure_ascii=False), encoding="utf-8")
    result = run_qa("score", "--transcript", str(path), "--rubric", str(rubric), "--format", "json")
    assert result.returncode == 0, result.stderr
    [flag] = json.loads(result.stdout)["flags"]
    detail = flag["findings"][0]["detail"]
    assert flag["id"] == "angry_customer" and "customer_emotion: P(angry)" in detail
    assert "of 2 customer turns" not in detail and "peak over 2 customer turns" in detail
