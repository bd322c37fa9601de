"""Rubric validation and the scoring rules: critical items, N/A, deductions, stars, flags."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import yaml

from qa.errors import RubricError
from qa.models import ModelDirectory
from qa.rubric import score_transcript
from qa.rubrics import (LexiconDirectory, named_lexicons_and_models, load_rubric, parse_lexicon,
                        rubric_fingerprint, rubric_from_yaml)
from tests.conftest import REPO, bundled, transcript

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


def test_a_key_given_twice_is_an_error_naming_its_line(tmp_path):
    text = (REPO / "rubrics" / "zh-bank-hotline.yaml").read_text(encoding="utf-8")
    doubled = text.replace("          tone_exempt:\n", "          tone_exempt: []\n          tone_exempt:\n", 1)
    assert doubled != text
    line = doubled[:doubled.index("          tone_exempt:\n")].count("\n") + 1
    with pytest.raises(RubricError) as err:
        rubric_from_yaml(doubled, "zh.yaml", lexicon_dir=REPO / "rubrics" / "lexicons", bind=False)
    assert err.value.field == f"line {line}"
    assert "'tone_exempt' is given twice" in err.value.reason


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


@pytest.mark.parametrize("organisation, said", [
    ("Desjardins", "thank you for calling day jardin this is kevin"),  # a French brand as English ASR hears it
    ("Desjardins", "bonjour deja dan card services"),
    ("National Bank of Canada", "hello banque nationale my name is kevin"),
    ("Santander", "good morning santa under my name is kevin"),
])
def test_the_english_rubric_hears_a_brand_by_the_aliases_it_lists(organisation, said):
    t = transcript([("agent", 0.0, 4.0, said), ("customer", 5.0, 8.0, "hi")], language="en",
                   organisation=organisation, agent_name="Kevin Roy")
    assert items(score_transcript(bundled("en-card-services"), t))["greeting"].status == "pass"


# --- verify_identity: verification performed, not only mentioned -----------------------------

OPEN = {"zh": [("agent", 0.0, 4.0, "您好招商银行我姓王请问有什么可以帮您")],
        "en": [("agent", 0.0, 4.0, "hello thank you for calling barclays my name is anna")]}
RUBRIC_OF = {"zh": "zh-bank-hotline", "en": "en-card-services"}


def verify_status(language, rows):
    call = {"zh": dict(organisation="招商银行", agent_name="王敏"),
            "en": dict(organisation="Barclays", agent_name="Anna Smith")}[language]
    rows = OPEN[language] + [(spk, 10.0 + 5 * i, 14.0 + 5 * i, text)
                             for i, (spk, text) in enumerate(rows)]
    card = score_transcript(bundled(RUBRIC_OF[language]), transcript(rows, language=language, **call))
    item = items(card)["verify_identity"]
    return item.status, item.findings


@pytest.mark.parametrize("language,rows", [
    ("zh", [("agent", "麻烦您报一下身份证后六位"), ("customer", "三幺零二二八"),
            ("agent", "好的 这个诉求我给您登记上了 专员两个工作日内联系您")]),
    ("zh", [("agent", "请问您的姓名和预留的手机号码"), ("customer", "我叫周立 一五八 二二七零 九九一三"),
            ("agent", "好的 这个问题我给您转到专线处理")]),
    ("zh", [("agent", "请在话机上输入身份证后六位 以井号键结束"), ("customer", "按好了"),
            ("agent", "好的 马上帮您转人工处理")]),
    ("en", [("agent", "can i take your full name and date of birth please"),
            ("customer", "it's helen ward the third of june nineteen seventy one"),
            ("agent", "thanks helen let me transfer you to the complaints team")]),
    ("en", [("agent", "could you confirm the last four digits of the card"), ("customer", "six oh one nine"),
            ("agent", "lovely, let me put you through to the team who can help")]),
], ids=["zh-id-digits", "zh-name-phone", "zh-keypad", "en-name-dob", "en-last-four"])
def test_verification_performed_passes_when_no_disclosure_is_found(language, rows):
    status, findings = verify_status(language, rows)
    assert status == "pass"
    request, answer = findings
    assert request.speaker == "agent" and answer.speaker == "customer"
    assert "customer answered" in request.detail and answer.start > request.start


@pytest.mark.parametrize("language,rows", [
    # an offer to look the account up, declined
    ("zh", [("agent", "具体到您这张卡的还款日 需要先核实一下您的身份才能查"),
            ("customer", "不用了 我就想知道一般是怎么规定的"),
            ("agent", "一般是账单日后二十天左右")]),
    # the documents to bring to a branch
    ("zh", [("agent", "办理的时候请带上您本人的身份证原件和银行卡到网点"), ("customer", "好的 要预约吗"),
            ("agent", "不用预约 直接去就可以")]),
    # a question about the phone, not a credential asked for
    ("zh", [("agent", "请问您的手机号最近换过吗"), ("customer", "没有换 一直是这个"),
            ("agent", "那可能是短信被拦截了 您看一下拦截记录")]),
    # someone else will verify later
    ("zh", [("agent", "已经给您登记了 客户经理回电的时候会核对您的身份"), ("customer", "好 谢谢你"),
            ("agent", "不客气 请问还有其他问题吗")]),
    # a process described, not carried out
    ("zh", [("agent", "开户的时候见证人员会视频确认是本人自愿办理"), ("customer", "那大概要多久"),
            ("agent", "一般十分钟左右")]),
    # the customer refuses to verify
    ("zh", [("agent", "为了您的账户安全 先核实一下身份 请提供身份证后四位"),
            ("customer", "我不想说 你们怎么老问这个"), ("agent", "好的 那我先给您讲一下一般的流程"),
            ("customer", "行 你说吧")]),
    ("en", [("agent", "i'd need to verify you before i can look at the account itself"),
            ("customer", "no thanks i only wanted the general rate"),
            ("agent", "sure the standard rate is on our website")]),
    ("en", [("agent", "please bring your passport and a utility bill to the branch"),
            ("customer", "okay do i need an appointment"), ("agent", "no you can just walk in")]),
    ("en", [("agent", "for security can you confirm your postcode"),
            ("customer", "i'd rather not give that over the phone"),
            ("agent", "that's fine you can also visit a branch")]),
], ids=["zh-offer-declined", "zh-documents", "zh-phone-question", "zh-later", "zh-process",
        "zh-refuses", "en-offer-declined", "en-documents", "en-refuses"])
def test_verification_only_mentioned_or_refused_stays_not_applicable(language, rows):
    status, _ = verify_status(language, rows)
    assert status == "na"


@pytest.mark.parametrize("rubric_id", ["zh-bank-hotline", "en-card-services"])
def test_the_fingerprint_covers_every_lexicon_and_model_the_rubric_reads(rubric_id, tmp_path):
    shutil.copytree(REPO / "rubrics", tmp_path / "rubrics")
    path = tmp_path / "rubrics" / f"{rubric_id}.yaml"
    lexicons = LexiconDirectory(tmp_path / "rubrics" / "lexicons")
    rubric = load_rubric(str(path), bind=False)
    assert rubric.bind(lexicons, ModelDirectory()) == []
    named = {name for kind, name in named_lexicons_and_models(yaml.safe_load(path.read_text(encoding="utf-8")))
             if kind == "lexicon"}
    assert named == set(lexicons.read())
    before = rubric_fingerprint(path)
    assert rubric_fingerprint(path) == before
    for name in lexicons.read():
        lexicon = tmp_path / "rubrics" / "lexicons" / f"{name}.txt"
        text = lexicon.read_text(encoding="utf-8")
        lexicon.write_text(text + "新加的一行\n", encoding="utf-8")
        assert rubric_fingerprint(path) != before, name
        lexicon.write_text(text, encoding="utf-8")
    assert rubric_fingerprint(path) == before
    unused = tmp_path / "rubrics" / "lexicons" / "not-used-by-any-rubric.txt"
    unused.write_text("无关\n", encoding="utf-8")
    assert rubric_fingerprint(path) == before


def test_the_fingerprint_changes_with_the_tone_model_it_names(tmp_path, monkeypatch):
    shutil.copytree(REPO / "rubrics", tmp_path / "rubrics")
    path = tmp_path / "rubrics" / "zh-bank-hotline.yaml"
    before = rubric_fingerprint(path)
    shutil.copytree(REPO / "models" / "agent_tone_zh", tmp_path / "models" / "agent_tone_zh")
    monkeypatch.setenv("QA_MODELS_PATH", str(tmp_path / "models"))
    assert rubric_fingerprint(path) == before  # the same files found elsewhere
    card = tmp_path / "models" / "agent_tone_zh" / "card.json"
    card.write_text(card.read_text(encoding="utf-8").replace("{", '{"retrained": true, ', 1),
                    encoding="utf-8")
    assert rubric_fingerprint(path) != before
