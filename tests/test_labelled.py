"""Agreement of automatic scoring with hand labels, in the issue's own terms.

tests/data/labelled/ (54 Mandarin, 12 English calls), tests/data/holdout/ (30 + 8) and
tests/data/holdout2/ (30 + 10), each written and labelled independently of the rules and
of each other, are scored with the bundled rubrics. (The held-out sets were measured
before the rules saw them; the README gives those first figures.) Every shared item must agree with the labels on at least 95% of the calls of
each language; forbidden words, counted by agent segment, need precision >= 0.95 and
recall >= 0.90. Reproduce the figures with `qa rubric agreement tests/data/labelled/zh`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.agreement import agreement
from qa.rubric import score_transcript
from qa.transcripts import iter_transcripts
from tests.conftest import REPO, SHARED, bundled

SHARED_ITEMS = ("greeting", "self_intro", "verify_identity", "hold_etiquette",
                "forbidden_words", "password_request", "closing")
RUBRIC = {"zh": "zh-bank-hotline", "en": "en-card-services"}
SETS = [(kind, language) for kind in ("labelled", "holdout", "holdout2") for language in ("zh", "en")
        if (REPO / "tests" / "data" / kind / language).is_dir()]


def report_for(kind: str, language: str):
    folder = REPO / "tests" / "data" / kind / language
    rubric = bundled(RUBRIC[language])
    scored = []
    for path, transcript in iter_transcripts(folder):
        assert not isinstance(transcript, Exception), transcript
        scored.append((score_transcript(rubric, transcript), transcript.extra["labels"]))
    return agreement(scored, SHARED_ITEMS)


@pytest.fixture(scope="module", params=SETS, ids=[f"{k}-{lang}" for k, lang in SETS])
def report(request):
    return report_for(*request.param)


def test_the_labelled_sets_have_the_promised_size():
    zh = list((REPO / "tests/data/labelled/zh").glob("*.json"))
    en = list((REPO / "tests/data/labelled/en").glob("*.json"))
    assert len(zh) >= 40 and len(en) >= 8


@pytest.mark.parametrize("item", SHARED_ITEMS)
def test_item_agreement_is_at_least_95_percent(report, item):
    entry = report.items[item]
    assert entry.total == report.calls
    assert entry.rate >= 0.95, f"{item}: {entry.rate:.1%}, disagreements {entry.disagreements}"


def test_forbidden_words_precision_and_recall(report):
    fw = report.forbidden
    assert fw.precision >= 0.95, f"precision {fw.precision:.3f}, false hits {fw.false_hits}"
    assert fw.recall >= 0.90, f"recall {fw.recall:.3f}, misses {fw.misses}"


DIALOGUES = SHARED / "data" / "dialogues"


@pytest.mark.skipif(not DIALOGUES.is_dir(), reason="../shared/data/dialogues is absent")
def test_real_agent_turns_rarely_hit_the_forbidden_lexicon():
    """Real customer-service dialogues (../shared/data/dialogues) rarely contain forbidden
    language: a good lexicon flags under 1% of their agent turns."""
    from qa.checks import prepare, run_check
    from qa.model import transcript_from_dict

    rubric = bundled("zh-bank-hotline")
    item = next(i for i in rubric.items() if i.id == "forbidden_words")
    check = item.checks[0]
    turns = hits = 0
    for path in sorted(DIALOGUES.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            dialogue = json.loads(line)
            rows = [t for t in dialogue["turns"] if t.get("text", "").strip()]
            segments = [{"start": float(i), "end": i + 0.9, "speaker": t["role"], "text": t["text"]}
                        for i, t in enumerate(rows) if t["role"] in ("agent", "customer")]
            if not any(s["speaker"] == "agent" for s in segments):
                continue
            t = transcript_from_dict({"call_id": str(dialogue["id"]), "language": "zh",
                                      "segments": segments})
            ctx = prepare(t)
            agent = ctx.by_speaker("agent")
            turns += len(agent)
            hits += len({f.segment_index for f in run_check(ctx, check, item.id)
                         if f.passed is False})
    assert turns > 1000
    assert hits / turns < 0.01, f"{hits} of {turns} agent turns hit"



HOLDOUT3 = REPO / "tests" / "data" / "holdout3"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_tone_model_held_out_set_keeps_its_measured_quality(language):
    """tests/data/holdout3 is the tone models' held-out set (never trained on, and its
    forbidden-word labels never used to tune the lexicons). Figures measured when the
    models were trained: zh forbidden precision 1.00 / recall 0.89; en 1.00 / 0.38 (the
    English model has only 16 rude training segments). This guards against regressions;
    it does not claim the English figure is good enough."""
    report = report_for("holdout3", language)
    fw = report.forbidden
    assert fw.precision >= 0.95, fw.false_hits
    assert fw.recall >= (0.85 if language == "zh" else 0.35), fw.misses
    for item in SHARED_ITEMS:
        if item != "forbidden_words":
            assert report.items[item].rate >= 0.9, (item, report.items[item].disagreements)
