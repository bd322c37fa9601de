"""The tone models' fast scorer gives scikit-learn's probabilities, one text at a time or
a whole call's segments at once."""

from __future__ import annotations

import json

import pytest

from qa.classify import normalise_for_model
from qa.models import ModelDirectory
from tests.conftest import REPO


def agent_texts(language: str) -> list[str]:
    texts = []
    for path in sorted((REPO / "tests" / "data").glob(f"*/{language}/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        texts += [normalise_for_model(s["text"]) for s in data["segments"]
                  if s["speaker"] == "agent"]
    return texts


@pytest.fixture(scope="module")
def zh_model():
    return ModelDirectory()["agent_tone_zh"]


def test_batch_scoring_gives_exactly_the_per_text_probabilities(zh_model):
    texts = agent_texts("zh")
    zh_model.probabilities(texts[:1])  # builds the scorer
    scorer = zh_model._scorer
    one_by_one = [scorer.probability(t) for t in texts]
    for start in range(0, len(texts), 37):  # call-sized batches
        assert scorer.probabilities(texts[start:start + 37]) == one_by_one[start:start + 37]


def test_batch_scoring_agrees_with_scikit_learn(zh_model):
    texts = agent_texts("zh")[:300]
    ours = zh_model.probabilities(texts, normalised=True)
    theirs = zh_model.pipeline_probabilities(texts)
    assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-9


def test_batch_scoring_handles_texts_it_cannot_cut_directly(zh_model):
    # an empty text, and match forms with spaces between English words (cut by the analyzer)
    texts = [normalise_for_model(t) for t in
             ("你这个人怎么回事", "", "please hold on 你好", "你们听不懂吗", "I don't know")]
    assert zh_model.probabilities(texts, normalised=True) == pytest.approx(
        zh_model.pipeline_probabilities(texts), abs=1e-9)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_kept_probabilities_are_those_of_scikit_learn(language, monkeypatch):
    # the shipped model of each language, over every agent segment of the labelled sets,
    # call-sized batches scored twice (the second time from the probabilities kept), and
    # again after the memory was cleared for being full
    model = ModelDirectory()[f"agent_tone_{language}"]
    texts = agent_texts(language)
    theirs = model.pipeline_probabilities(texts)
    for _ in range(2):
        ours = []
        for start in range(0, len(texts), 37):
            ours += model.probabilities(texts[start:start + 37], normalised=True)
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-9
    assert model._known
    monkeypatch.setattr(model, "KNOWN_TEXTS", 50)
    model._known.clear()
    again = []
    for start in range(0, len(texts), 37):
        again += model.probabilities(texts[start:start + 37], normalised=True)
        assert len(model._known) <= 50
    assert again == ours


def test_a_word_block_beside_the_characters_scores_as_scikit_learn_does(tmp_path):
    # tone_pipeline's optional word 1-2-gram block (bench/tone_loso.py --grid word_weight=1):
    # the fast scorer weighs each l2-normalised block as the FeatureUnion does, and the model
    # survives saving and loading
    from qa.classify import train_segment_model
    from qa.models import load_model, save_model

    texts = agent_texts("en")
    labels = [int(any(w in t for w in ("fault", "told you", "again", "read"))) for t in texts]
    model = train_segment_model("tone_words", texts, labels, "en", c=10.0, word_weight=0.7)
    words = model.pipeline.named_steps["features"].transformer_list[1][1]
    assert ("not a" in words.vocabulary_ or "your fault" in words.vocabulary_)
    ours = model.probabilities(texts, normalised=True)
    theirs = model.pipeline_probabilities(texts)
    assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-9
    without_words = train_segment_model("tone_chars", texts, labels, "en", c=10.0)
    assert max(abs(a - b) for a, b in zip(ours, without_words.probabilities(texts, normalised=True))) > 1e-3
    save_model(model, tmp_path / "tone_words")
    loaded = load_model(tmp_path / "tone_words")
    assert loaded.probabilities(texts[:50], normalised=True) == pytest.approx(ours[:50], abs=1e-12)
