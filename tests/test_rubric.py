"""Rubric validation and the scoring rules: critical items, N/A, deductions, stars, flags."""

from __future__ import annotations

import textwrap

import pytest

from qa.errors import RubricError
from qa.rubric import score_transcript
from qa.rubrics import parse_lexicon, rubric_from_yaml
from tests.conftest import bundled, transcript

SHARED_ITEMS = ("greeting", "self_intro", "verify_identity", "hold_etiquette",
                "forbidden_words", "password_request", "closing")


def make_rubric(tmp_path, body: str, lexicons: dict[str, str] | None = None, name="r.yaml"):
    (tmp_path / "lexicons").mkdir(exist_ok=True)
    for lex, text in (lexicons or {}).items():
        (tmp_path / "lexicons" / f"{lex}.txt").write_text(text, encoding="utf-8")
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return rubric_from_yaml(path.read_text(encoding="utf-8"), str(path))


SMALL = """
    id: small
    name: Small
    version: "2"
    language: zh
    pass_mark: 80
    stars: [{min: 90, stars: 5}, {min: 50, stars: 3}, {min: 0, stars: 1}]
    sections:
      - id: main
        name: Main
        items:
          - id: greeting
            name: Greeting
            points: 10
            check: {type: phrase, phrases: [您好], within_s: 15}
          - id: forbidden_words
            name: Forbidden
            points: 15
            deduction_cap: 10
            check: {type: forbidden, phrases: [不归我管, 你找别人去, 有完没完], deduction: 4}
          - id: password_request
            name: No secrets
            points: 10
            critical: true
            check: {type: sensitive, secret_terms: [密码], ask_cues: [告诉]}
          - id: hold_etiquette
            name: Hold
            points: 10
            check:
              type: hold
              ask: {phrases: [请稍等]}
              thank: {phrases: [让您久等了]}
          - id: intro_any
            name: Name or number
            points: 5
            require: any
            check:
              - {type: phrase, phrases: ["我姓{agent_surname}"]}
              - {type: regex, pattern: "工号[0-9]+"}
    flags:
      - id: customer_abuse
        name: Abuse
        check: {type: forbidden, speaker: customer, phrases: [神经病]}
"""


def items(card):
    return {i.item_id: i for i in card.items}


def test_clean_call_scores_full_marks_and_na_items_leave_the_denominator(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    t = transcript([("agent", 0.0, 3.0, "您好，我姓王"), ("customer", 3.5, 5.0, "你好")],
                   agent_name="王敏")
    card = score_transcript(r, t)
    assert items(card)["hold_etiquette"].status == "na"
    assert (card.total, card.max_total, card.percent, card.stars, card.passed) == (40, 40, 100.0, 5, True)


def test_forbidden_deductions_are_per_hit_and_capped(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    one = score_transcript(r, transcript([("agent", 0.0, 3.0, "您好，不归我管")]))
    assert items(one)["forbidden_words"].points == 11
    three = score_transcript(r, transcript([("agent", 0.0, 9.0, "您好，不归我管，你找别人去，有完没完")]))
    item = items(three)["forbidden_words"]
    assert item.status == "fail" and item.points == 5  # 15 - min(cap 10, 3 x 4)
    assert len([f for f in item.findings if f.passed is False]) == 3


def test_failed_critical_item_zeroes_the_call_but_reports_the_calculated_score(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    t = transcript([("agent", 0.0, 3.0, "您好，我姓王，请告诉我您的密码")], agent_name="王敏")
    card = score_transcript(r, t)
    assert items(card)["password_request"].status == "critical"
    assert card.critical_failed and card.total == 0 and card.calculated_total == 30
    assert card.stars == 1 and card.passed is False


def test_require_any_passes_on_either_check(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    t = transcript([("agent", 0.0, 3.0, "您好，工号3725为您服务")], agent_name="王敏")
    item = items(score_transcript(r, t))["intro_any"]
    assert item.status == "pass" and all(f.passed for f in item.findings)


def test_pass_mark_and_star_bands(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    t = transcript([("agent", 0.0, 3.0, "喂，我姓王")], agent_name="王敏")
    card = score_transcript(r, t)
    assert card.percent == 75.0 and card.stars == 3 and card.passed is False


def test_flags_are_raised_only_when_their_check_fails_and_do_not_score(tmp_path):
    r = make_rubric(tmp_path, SMALL)
    calm = score_transcript(r, transcript([("agent", 0.0, 3.0, "您好")]))
    abusive = score_transcript(r, transcript([("agent", 0.0, 3.0, "您好"),
                                              ("customer", 3.5, 5.0, "你是神经病吧")]))
    assert calm.flags == ()
    assert [f.flag_id for f in abusive.flags] == ["customer_abuse"]
    assert abusive.total == calm.total
    assert abusive.flags[0].findings[0].evidence == "神经病"


def test_na_when_makes_an_item_not_applicable(tmp_path):
    body = SMALL.replace(
        "          - id: intro_any",
        "          - id: transfer\n            name: Transfer\n            points: 5\n"
        "            na_when: {type: regex, pattern: 转接, must: not_occur}\n"
        "            check: {type: phrase, phrases: [正在为您转接]}\n          - id: intro_any")
    r = make_rubric(tmp_path, body)
    card = score_transcript(r, transcript([("agent", 0.0, 3.0, "您好")]))
    assert items(card)["transfer"].status == "na"
    card = score_transcript(r, transcript([("agent", 0.0, 3.0, "您好，我帮您转接")]))
    assert items(card)["transfer"].status == "fail"


@pytest.mark.parametrize("edit, field, reason", [
    (("check: {type: phrase, phrases: [您好], within_s: 15}", "check: {type: phrases, phrases: [您好]}"),
     "sections[0].items[0].check", "does not match any of the expected tags"),
    (("points: 10\n", "points: -1\n"), "sections[0].items[0].points", "greater than 0"),
    (('    version: "2"\n', ""), "version", "Field required"),
    (("pattern: \"工号[0-9]+\"", "pattern: \"工号[0-9+\""), "sections[0].items[4].check[1].pattern",
     "bad regular expression"),
    (("id: forbidden_words", "id: greeting"), "sections", "used twice"),
    (("within_s: 15}", "within_s: 15, colour: red}"), "sections[0].items[0].check.colour",
     "Extra inputs"),
])
def test_rubric_errors_name_the_field(tmp_path, edit, field, reason):
    with pytest.raises(RubricError) as err:
        make_rubric(tmp_path, SMALL.replace(*edit))
    assert err.value.field == field
    assert reason in err.value.reason
    assert str(tmp_path / "r.yaml") in str(err.value)


def test_unknown_lexicon_is_an_error_naming_the_check(tmp_path):
    body = SMALL.replace("phrases: [不归我管, 你找别人去, 有完没完]", "lexicon: nowhere")
    with pytest.raises(RubricError) as err:
        make_rubric(tmp_path, body)
    assert err.value.field == "sections[0].items[1].check"
    assert "nowhere" in err.value.reason


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(RubricError) as err:
        make_rubric(tmp_path, "id: x\nsections: [\n  - a: b\n    c")
    assert err.value.field.startswith("line ") and "malformed YAML" in err.value.reason


def test_lexicon_lines_are_checked_with_line_numbers():
    entries = parse_lexicon("# comment\n不归我管\tshirking\tmajor\n你找别人去\n", "x.txt")
    assert [(e.phrase, e.category, e.severity) for e in entries] == [
        ("不归我管", "shirking", "major"), ("你找别人去", "", "")]
    with pytest.raises(RubricError) as err:
        parse_lexicon("好\n不归我管\tshirking\tterrible\n", "x.txt")
    assert err.value.field == "line 2" and "severity" in err.value.reason


@pytest.mark.parametrize("rubric_id", ["zh-bank-hotline", "en-card-services"])
def test_bundled_rubrics_share_the_comparable_item_ids(rubric_id):
    rubric = bundled(rubric_id)
    ids = {i.id for i in rubric.items()}
    assert set(SHARED_ITEMS) <= ids
    assert {i.id: i for i in rubric.items()}["password_request"].critical
    assert sum(i.points for i in rubric.items()) == 100
    assert {f.id for f in rubric.flags} >= {"customer_abuse"}
