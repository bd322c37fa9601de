"""Work kept across calls (normalised texts, scan hits, phrase hits, secret requests, PII
spans, tone probabilities) never changes a scorecard: the same calls scored with every
memory disabled give the same scorecards, also when the same lines come back under
another agent's name or organisation."""

from __future__ import annotations

import dataclasses
import json

import pytest

import qa.checks
import qa.matcher
import qa.text
from qa.classify import SegmentModel
from qa.model import transcript_from_dict
from qa.rubric import score_transcript
from tests.conftest import REPO, bundled


def labelled_calls(language: str) -> list[dict]:
    paths = sorted((REPO / "tests" / "data").glob(f"*/{language}/*.json"))[:40]
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def with_another_agent(calls: list[dict]) -> list[dict]:
    """Each call's segments under the next call's agent and organisation."""
    out = []
    for data, other in zip(calls, calls[1:] + calls[:1]):
        copy = dict(data, call_id=data["call_id"] + "-swapped")
        copy["call"] = dict(data.get("call") or {})
        for key in ("agent_name", "organisation"):
            copy["call"][key] = (other.get("call") or {}).get(key)
        out.append(copy)
    return out


def scorecards(rubric, calls: list[dict]) -> list[dict]:
    return [dataclasses.asdict(score_transcript(rubric, transcript_from_dict(c))) for c in calls]


@pytest.mark.parametrize("language, rubric_id", [("zh", "zh-bank-hotline"),
                                                 ("en", "en-card-services")])
def test_scorecards_are_those_of_scoring_with_nothing_kept(language, rubric_id, monkeypatch):
    rubric = bundled(rubric_id)
    calls = labelled_calls(language)
    calls += with_another_agent(calls)
    scorecards(rubric, calls)  # fills the memories
    kept = scorecards(rubric, calls)
    for module, bound in ((qa.text, "KEPT_TEXTS"), (qa.matcher, "KEPT_SCANS"),
                          (qa.checks, "KEPT_FINDS")):
        monkeypatch.setattr(module, bound, 0)  # every memory starts afresh at every use
    monkeypatch.setattr(SegmentModel, "KNOWN_TEXTS", 0)
    assert scorecards(rubric, calls) == kept


def test_a_kept_function_gives_what_it_would_give_afresh(monkeypatch):
    calls = []
    kept = qa.text.Kept(lambda text: calls.append(text) or text[::-1])
    assert [kept(t) for t in ("ab", "cd", "ab")] == ["ba", "dc", "ba"]
    assert calls == ["ab", "cd"]  # "ab" worked out once
    monkeypatch.setattr(qa.text, "KEPT_TEXTS", 2)
    assert [kept(t) for t in ("ef", "ab", "gh")] == ["fe", "ba", "hg"]
    assert len(kept.memory) <= 2


def test_a_line_kept_for_one_agent_is_judged_afresh_for_another(tmp_path):
    from tests.conftest import transcript
    from tests.test_rubric import make_rubric

    rubric = make_rubric(tmp_path, """
        id: names
        name: Names
        version: "1"
        language: zh
        sections:
          - id: main
            name: Main
            items:
              - id: self_intro
                name: Own name
                points: 5
                check: {type: phrase, phrases: ["我是{agent_name}"], fuzzy: 90}
              - id: company
                name: Company
                points: 5
                check: {type: phrase, phrases: ["{company}"]}
        """)
    rows = [("agent", 0.0, 3.0, "您好招商银行我是王敏"), ("customer", 3.5, 5.0, "你好")]

    def statuses(agent, organisation):
        card = score_transcript(rubric, transcript(rows, agent_name=agent,
                                                   organisation=organisation))
        return [i.status for i in card.items]

    for _ in range(2):
        assert statuses("王敏", "招商银行") == ["pass", "pass"]
        assert statuses("李四", "工商银行") == ["fail", "fail"]
