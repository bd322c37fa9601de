"""Each check type as a specification: real transcripts in, findings with evidence out."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from qa.checks import Interval, Prediction, VoiceActivity, prepare, run_check, split_name
from qa.matcher import LexiconEntry
from qa.rubric import CheckSpec
from tests.conftest import bundled, transcript

SPEC = TypeAdapter(CheckSpec)


def run(params: dict, t, lexicons=None, **context):
    check = SPEC.validate_python(params)
    check.bind(lexicons or {})
    return run_check(prepare(t, **context), check, "item")


def passed(findings) -> bool | None:
    if all(f.passed is None for f in findings):
        return None
    return all(f.passed is not False for f in findings)


BANK = dict(agent_name="王敏", organisation="招商银行信用卡中心")


# --- phrase -------------------------------------------------------------------------------

def test_phrase_passes_with_evidence_time_and_form():
    t = transcript([("agent", 0.0, 4.0, "您好，招商银行信用卡中心，很高兴为您服务")], **BANK)
    [f] = run({"type": "phrase", "phrases": ["很高兴为您服务"]}, t)
    assert f.passed is True
    assert f.evidence == "很高兴为您服务"
    assert f.segment_index == 0 and (f.char_start, f.char_end) == (13, 20)
    assert 2.0 < f.start < 3.0
    assert "exact" in f.detail


def test_phrase_said_after_the_window_fails():
    t = transcript([("agent", 0.0, 2.0, "喂"), ("customer", 2.5, 5.0, "你好"),
                    ("agent", 20.0, 22.0, "您好，招商银行")], **BANK)
    [f] = run({"type": "phrase", "phrases": ["您好"], "within_s": 15}, t)
    assert f.passed is False
    assert "first 15 s" in f.detail


def test_phrase_said_by_the_customer_does_not_count_for_the_agent():
    t = transcript([("customer", 0.0, 2.0, "您好"), ("agent", 2.5, 4.0, "喂")])
    assert run({"type": "phrase", "phrases": ["您好"]}, t)[0].passed is False


def test_homophone_of_the_organisation_matches_and_says_so():
    t = transcript([("agent", 0.0, 3.0, "您好招商因行信用卡中心")], **BANK)
    [f] = run({"type": "phrase", "phrases": ["{company}"]}, t)
    assert f.passed is True
    assert "homophone" in f.detail and f.evidence.startswith("招商因行")


def test_company_short_form_without_department_suffix_counts():
    t = transcript([("agent", 0.0, 3.0, "您好，招商银行，请讲")], **BANK)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is True


@pytest.mark.parametrize("organisation, said", [
    ("FNB", "good afternoon eff en bee card disputes"),      # letter names, as ASR writes them
    ("RHB", "hello r h b customer care"),                    # letters
    ("BDO Unibank", "thank you for calling BDO credit cards"),  # a brand led by its initials
    ("PNC Financial", "hi you've reached pee en see"),
])
def test_an_initialism_organisation_counts_spelled_out(organisation, said):
    t = transcript([("agent", 0.0, 3.0, said)], language="en", organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is True


def test_a_two_letter_initialism_is_not_guessed_from_single_letters():
    # "t d" is inside "it does": two-letter brands are matched only by their letter names
    t = transcript([("agent", 0.0, 3.0, "hi what does your card say")], language="en",
                   organisation="TD")
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is False


@pytest.mark.parametrize("organisation, said", [
    ("申万宏源证券", "您好 申万红源 客服热线"), ("天弘基金", "您好天弘客服"), ("南华期货", "您好南华客服")])
def test_a_brokerage_or_fund_company_counts_by_its_brand(organisation, said):
    t = transcript([("agent", 0.0, 3.0, said)], organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is True


@pytest.mark.parametrize("organisation, said, language", [
    ("招联消费金融", "您好，招联金融，工号四一二", "zh"),          # 消费金融 said 金融
    ("星展银行（中国）", "您好，星展银行，很高兴为您服务", "zh"),    # a parenthesised region
    ("Commercial Bank of Ceylon", "ayubowan commercial bank card centre", "en"),  # "of <place>"
    ("Zanaco Zambia", "good morning thank you for calling zanaco", "en"),  # a country after the brand
    ("东亚银行（中国）", "您好，东亚中国，工号三一二", "zh"),        # brand + region (X银行（中国） said X中国)
    ("网银在线（京东支付）", "您好 京东支付客服 我姓李", "zh"),       # a parenthesised alias
    ("通联支付", "您好 通联客服 我姓李", "zh"),                     # a payment company without 支付
    ("Development Bank of Singapore", "hi dee bee ess cards how can i help", "en"),  # initials of 3+ words
    ("Allied Irish Banks", "good morning a i b card services", "en"),
    ("Eastern Bank PLC", "assalamu alaikum thank you for calling EBL this is Tanvir", "en"),  # once Limited: EBL
    ("Dutch-Bangla Bank PLC", "good morning DBBL cards this is Rafiq", "en"),
    ("Ahli Bank Qatar", "good afternoon thank you for calling ahli bank this is fatima", "en"),  # a country after the name
    ("浙江泰隆商业银行", "您好 泰隆商业银行 工号二一三", "zh"),     # a province before the name is not said
    ("浙江民泰商业银行", "您好 民泰因行 我是小郑", "zh"),          # 商业银行 said 银行, here heard 因行
    ("湖南桃源农商村镇银行", "您好，桃源农商村镇银行，我姓邓", "zh"),
    ("重庆三峡银行", "您好 三峡银行客服 我是小冉", "zh"),      # a municipality or city before a private bank's brand
    ("温州民商银行", "您好，民商因行，工号二一三", "zh"),
    ("马来西亚丰隆银行", "哈啰 丰隆银行 我是 Amy 陈", "zh"),      # a country before a foreign bank's brand
    ("新加坡华侨银行", "您好 华侨银行信用卡热线 我姓林", "zh"),
    ("广东顺德农村商业银行", "您好 顺德农商银行 工号二一三", "zh"),  # 农村商业银行 said 农商银行 / 农商行
    ("东莞农村商业银行", "您好，东莞农商行，我姓陈", "zh"),
    ("香港恒生銀行", "您好 恒生银行 我姓何", "zh"),             # Traditional, and a region before the brand
    ("澳門大西洋銀行", "你好 大西洋银行 我系陈小姐", "zh"),
    ("台灣國泰產險", "您好 国泰产险理赔专线 敝姓林", "zh"),
    ("中國銀行（香港）", "您好 中银香港信用卡热线 我姓陈", "zh"),   # a bank's regional subsidiary: 中银香港
    ("交通银行（香港）", "你好 交银香港 我系黄小姐", "zh"),
    ("中国平安财产保险", "您好 平安产险 工号三一二", "zh"),       # 财产保险 said 产险 or 财险
    ("太平财产保险", "您好 太平财险 我姓王", "zh"),
    ("永诚财产保险", "您好，永诚保险理赔热线，我是钱芳", "zh"),  # or brand + 保险, without 财产
    ("湖北省农村信用社联合社", "您好，湖北农信客服热线，我是小田", "zh"),  # a provincial rural credit union:
    ("甘肃省农村信用社", "您好 甘肃农信社 工号八零四", "zh"),        # province + 农信 / 农信社 / 信合
    ("陕西省农村信用社联合社", "您好 陕西信合客服 我姓雷", "zh"),
    ("Truist", "thanks for calling tru ist this is dana", "en"),  # a one-word brand ASR splits in two
    ("Barclays", "good morning bar clays card services", "en"),
    ("M&T Bank", "thanks for calling m and tea bank this is tyler", "en"),
    ("Tower Insurance", "kia ora thanks for calling tower claims my names hemi", "en"),  # an insurer by its brand
    ("Dupaco Community Credit Union", "Thanks for calling Dupaco, this is Brenda", "en"),  # a credit union by its brand  # "&" said "and", "t" heard "tea"
])
def test_an_organisation_counts_by_the_short_form_said_on_the_phone(organisation, said, language):
    t = transcript([("agent", 0.0, 3.0, said)], language=language, organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is True


@pytest.mark.parametrize("organisation, said", [
    ("中国银联云闪付", "您好，云闪付客服，我是小李"),       # a product brand after its institution
    ("招商银行掌上生活", "您好 掌上生活客服 工号三一二"),
    ("华泰证券涨乐财富通", "您好 涨乐财富通 很高兴为您服务"),
    ("SMBC Trust Bank PRESTIA", "thank you for calling PRESTIA English Service my name is Watanabe"),
])
def test_a_brand_run_on_after_its_institution_counts_alone(organisation, said):
    language = "en" if organisation.isascii() else "zh"
    t = transcript([("agent", 0.0, 3.0, said)], language=language, organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is True


@pytest.mark.parametrize("organisation, said", [
    ("招商银行私人银行", "您好 私人银行 我是小李"),          # a department, not a brand
    ("微信支付客服", "您好 客服 我是小李"),
    ("中国人寿财险", "您好 财险 我是小李"),
    ("浙江农商银行", "您好 农商银行 我是小李"),            # a province dropped leaves no name
    ("江苏银行", "您好 银行客服 我是小李"),
    ("北京银行", "您好 银行客服 我是小李"),              # a city dropped leaves no name either
    ("上海商业银行", "您好 上海银行 我是小李"),            # another bank: 上海银行 is not 上海商业银行
    ("上海农商银行", "您好 农商银行 我是小李"),
    ("台灣銀行", "您好 银行客服 我是小李"),            # a region dropped leaves no name
    ("中國工商銀行（澳門）", "您好 澳门客服 我是小李"),      # nor is the region in brackets one
    ("太平财产保险", "您好 产险理赔 我是小李"),
    ("太平财产保险", "您好 保险理赔 我是小李"),
    ("湖北省农村信用社联合社", "您好 农信客服 我是小李"),       # 农信 without the province is no name
])
def test_a_department_after_the_institution_is_no_brand(organisation, said):
    t = transcript([("agent", 0.0, 3.0, said)], organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is False


@pytest.mark.parametrize("organisation, said", [
    ("Bank of America", "thank you for calling the bank my name is sam"),  # "of" kept when "bank" leads
    ("Commercial Bank of Ceylon", "good morning ceylon tours"),
    ("Development Bank of Singapore", "good morning bank of singapore"),
])
def test_a_short_form_is_not_a_single_generic_word(organisation, said):
    t = transcript([("agent", 0.0, 3.0, said)], language="en", organisation=organisation)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is False


@pytest.mark.parametrize("organisation, said, heard", [
    ("Brex", "hi thanks for calling brecks business card support this is tyler", True),
    ("Zopa", "hi youre through to zoppa my name is daniel", True),
    ("Monzo", "hiya monso card team ellie speaking", True),
    ("Tide", "hi how can i help you today", False),       # same sound, spelling too far apart
    ("Brex", "hi thanks for calling this is tyler", False),
    ("Qantas Money", "good morning", False),
])
def test_an_english_brand_counts_as_asr_spells_it_by_its_sound(organisation, said, heard):
    spec = {"type": "phrase", "phrases": ["{company}"], "sounds_alike": True}
    t = transcript([("agent", 0.0, 3.0, said)], language="en", organisation=organisation)
    findings = run(spec, t)
    assert findings[0].passed is heard
    if heard:
        assert "sounds alike" in findings[0].detail
    # only where the phrase set asks for it
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is False


def test_another_bank_does_not_count_when_the_call_names_its_organisation():
    t = transcript([("agent", 0.0, 3.0, "您好，工商银行，请讲")], **BANK)
    assert run({"type": "phrase", "phrases": ["{company}"]}, t)[0].passed is False


def test_without_organisation_a_hotline_number_spoken_in_numerals_counts():
    t = transcript([("agent", 0.0, 3.0, "您好 欢迎致电九五五八八")])
    [f] = run({"type": "phrase", "phrases": ["{company}"]}, t,
              organisation_patterns=[r"955\d\d"])
    assert f.passed is True and f.evidence == "九五五八八"


def test_surname_must_be_the_agents_own():
    t = transcript([("agent", 0.0, 3.0, "您好，我姓李，很高兴为您服务")], agent_name="王敏")
    assert run({"type": "phrase", "phrases": ["我姓{agent_surname}"]}, t)[0].passed is False
    t2 = transcript([("agent", 0.0, 3.0, "您好，我性王，很高兴为您服务")], agent_name="王敏")
    assert run({"type": "phrase", "phrases": ["我姓{agent_surname}"]}, t2)[0].passed is True


def test_a_one_character_agent_name_alone_is_not_an_introduction():
    # the roster gives only the surname 何: said alone it is a homophone of 和, 河, 合
    phrases = {"type": "phrase", "phrases": ["我姓{agent_surname}", "{agent_name}"]}
    t = transcript([("agent", 0.0, 3.0, "资金账号和证件后四位")], agent_name="何")
    assert run(phrases, t)[0].passed is False
    t2 = transcript([("agent", 0.0, 3.0, "您好，我姓何，请讲")], agent_name="何")
    assert run(phrases, t2)[0].passed is True


def test_unknown_agent_name_accepts_any_surname():
    t = transcript([("agent", 0.0, 3.0, "您好我姓李很高兴为您服务")])
    assert run({"type": "phrase", "phrases": ["我姓{agent_surname}"]}, t)[0].passed is True


def test_compound_surnames_are_kept_whole():
    assert split_name("欧阳娜", "zh") == ("欧阳", "娜")
    assert split_name("王敏", "zh") == ("王", "敏")
    assert split_name("Sarah Jones", "en") == ("Jones", "Sarah")


def test_fuzzy_match_reports_its_score():
    t = transcript([("agent", 0.0, 3.0, "请问还有其他可以帮的吗")])
    [f] = run({"type": "phrase", "phrases": ["请问还有其他可以帮您的吗"], "fuzzy": 85}, t)
    assert f.passed is True and "fuzzy" in f.detail


def test_exact_hit_anywhere_wins_over_a_fuzzy_one_earlier():
    t = transcript([("agent", 0.0, 3.0, "感谢您的耐"), ("agent", 4.0, 6.0, "感谢您的来电")])
    [f] = run({"type": "phrase", "phrases": ["感谢您的来电"], "fuzzy": 80, "loose": True}, t)
    assert f.segment_index == 1 and "exact" in f.detail


# --- forbidden ----------------------------------------------------------------------------

FORBIDDEN = {"zh-test": [LexiconEntry("不归我管", "shirking", "major"),
                         LexiconEntry("你找别人去", "shirking", "major"),
                         LexiconEntry("神经病", "vulgar", "critical"),
                         LexiconEntry("不知道", "shirking", "minor")],
             "zh-test-allow": [LexiconEntry("不知道您现在是否方便")]}


def forbidden(t, **extra):
    params = {"type": "forbidden", "lexicon": "zh-test", "allow_lexicon": "zh-test-allow",
              "deduction": 5, "critical_severities": ["critical"], **extra}
    return run(params, t, FORBIDDEN)


def test_each_forbidden_phrase_is_a_finding_with_deduction_and_category():
    t = transcript([("agent", 0.0, 3.0, "这个不归我管"), ("customer", 3.5, 5.0, "那怎么办"),
                    ("agent", 5.5, 7.0, "你找别人去")])
    findings = forbidden(t)
    assert [f.evidence for f in findings] == ["不归我管", "你找别人去"]
    assert all(f.passed is False and f.deduction == 5 for f in findings)
    assert "shirking/major" in findings[0].detail


def test_polite_context_from_the_allow_list_is_not_a_hit():
    t = transcript([("agent", 0.0, 3.0, "不知道您现在是否方便")])
    assert passed(forbidden(t)) is True


def test_hit_outside_the_allowed_context_still_counts():
    t = transcript([("agent", 0.0, 6.0, "不知道您现在是否方便，我不知道")])
    [f] = forbidden(t)
    assert f.passed is False and f.char_start == 12


def test_customer_saying_a_forbidden_phrase_does_not_count_against_the_agent():
    t = transcript([("customer", 0.0, 3.0, "你们是神经病吗"), ("agent", 3.5, 5.0, "您别着急")])
    assert passed(forbidden(t)) is True


def test_critical_severity_marks_the_finding_critical():
    t = transcript([("agent", 0.0, 3.0, "神经病")])
    [f] = forbidden(t)
    assert f.critical is True


def test_asr_homophone_of_a_long_forbidden_phrase_is_caught():
    t = transcript([("agent", 0.0, 3.0, "你找别人曲")])
    [f] = forbidden(t)
    assert f.passed is False and "homophone" in f.detail


# --- regex ----------------------------------------------------------------------------------

def test_regex_on_pinyin_key_catches_homophone_staff_number():
    t = transcript([("agent", 0.0, 3.0, "您好 公号三七二五 为您服务")])
    [f] = run({"type": "regex", "pattern": "工号[0-9零一二三四五六七八九]{2,}",
               "homophones": True}, t)
    assert f.passed is True and f.evidence == "公号三七二五"


def test_regex_must_not_occur():
    t = transcript([("agent", 0.0, 3.0, "保证收益百分之十")])
    [f] = run({"type": "regex", "pattern": "保证收益", "must": "not_occur"}, t)
    assert f.passed is False and f.evidence == "保证收益"


# --- sequence -------------------------------------------------------------------------------

SEQ = {"type": "sequence", "first": {"phrases": ["身份证后四位", "核实一下您的身份"]},
       "then": {"phrases": ["您本期账单", "您的余额"]}}


def test_sequence_is_not_applicable_when_the_second_event_never_happens():
    t = transcript([("agent", 0.0, 3.0, "信用卡年费是多少可以在官网查询")])
    assert passed(run(SEQ, t)) is None


def test_disclosure_before_verification_fails_with_both_times():
    t = transcript([("agent", 0.0, 3.0, "您本期账单是三千元"),
                    ("agent", 4.0, 6.0, "请提供身份证后四位")])
    [f] = run(SEQ, t)
    assert f.passed is False
    assert "您本期账单" in f.evidence and "only later" in f.detail


def test_verification_before_disclosure_passes():
    t = transcript([("agent", 0.0, 3.0, "先核实一下您的身份"), ("customer", 3.5, 5.0, "好"),
                    ("agent", 6.0, 9.0, "您本期账单是三千元")])
    assert passed(run(SEQ, t)) is True


PERFORMED = dict(SEQ, performed={
    "answer": {"speaker": "customer", "pinyin": False, "homophone_patterns": ["[0-9]{3,}"]},
    "confirm_request": {"pinyin": False, "patterns": ["本人吗"]},
    "confirmation": {"speaker": "customer", "pinyin": False, "patterns": ["^(是|对)"]},
    "refusal": {"speaker": "customer", "pinyin": False, "patterns": ["不用了|不方便"]},
    "confirmed": {"pinyin": False, "patterns": ["核实通过"]}})


def test_a_request_the_customer_answers_passes_without_disclosure_and_says_why():
    t = transcript([("agent", 0.0, 3.0, "请提供身份证后四位"), ("customer", 3.5, 5.0, "幺三零八"),
                    ("agent", 6.0, 9.0, "好的 这个问题我帮您记录下来")])
    request, answer = run(PERFORMED, t)
    assert request.passed is True and answer.passed is True
    assert request.evidence == "身份证后四位" and request.speaker == "agent"
    assert answer.evidence == "幺三零八" and answer.speaker == "customer" and answer.start == 3.5
    assert "asked '身份证后四位' at 1.0 s" in request.detail
    assert "answered '幺三零八' at 3.5 s" in request.detail


def test_without_performed_the_same_call_stays_not_applicable():
    t = transcript([("agent", 0.0, 3.0, "请提供身份证后四位"), ("customer", 3.5, 5.0, "幺三零八")])
    assert passed(run(SEQ, t)) is None


def test_a_mention_of_verification_without_an_answer_stays_not_applicable():
    t = transcript([("agent", 0.0, 3.0, "查具体情况要先核实一下您的身份"),
                    ("customer", 3.5, 5.0, "那我下次再说吧"),
                    ("agent", 6.0, 9.0, "好的 一般来说年费是两百元")])
    assert passed(run(PERFORMED, t)) is None


def test_a_customer_who_declines_is_not_verified_even_if_digits_come_later():
    t = transcript([("agent", 0.0, 3.0, "我先核实一下您的身份"), ("customer", 3.5, 5.0, "不用了 我就问问"),
                    ("agent", 6.0, 9.0, "好的"), ("customer", 9.5, 12.0, "你们电话是95555吧")])
    assert passed(run(PERFORMED, t)) is None


def test_an_answer_only_counts_in_the_customers_next_turns():
    rows = [("agent", 0.0, 3.0, "请提供身份证后四位"), ("customer", 3.5, 5.0, "稍等我找一下")]
    rows += [("agent", 6.0 + 4 * i, 8.0 + 4 * i, "好的") if i % 2 == 0 else
             ("customer", 6.0 + 4 * i, 8.0 + 4 * i, "嗯") for i in range(4)]
    rows.append(("customer", 30.0, 32.0, "找到了 二三四五"))
    assert passed(run(PERFORMED, t := transcript(rows))) is None
    assert passed(run(dict(PERFORMED, performed=dict(PERFORMED["performed"], answer_turns=4)), t)) is True


def test_a_yes_counts_only_to_a_request_that_asks_for_one():
    yes_to_identity = transcript([("agent", 0.0, 3.0, "请问您是持卡人本人吗 身份证后四位呢"),
                                  ("customer", 3.5, 5.0, "是的")])
    yes_to_a_mention = transcript([("agent", 0.0, 3.0, "办理前需要核实一下您的身份 可以吗"),
                                   ("customer", 3.5, 5.0, "是的 不过今天先不办")])
    assert passed(run(PERFORMED, yes_to_identity)) is True
    assert passed(run(PERFORMED, yes_to_a_mention)) is None


def test_the_agent_confirming_the_check_is_enough_and_is_the_evidence():
    t = transcript([("agent", 0.0, 3.0, "系统显示您在语音里已经核实通过了"),
                    ("customer", 3.5, 5.0, "对")])
    [f] = run(PERFORMED, t)
    assert f.passed is True and f.evidence == "核实通过" and "confirmed the check" in f.detail


def test_performed_does_not_rescue_a_disclosure_before_verification():
    t = transcript([("agent", 0.0, 3.0, "您本期账单是三千元"),
                    ("agent", 4.0, 6.0, "请提供身份证后四位"), ("customer", 6.5, 8.0, "一二三四")])
    [f] = run(PERFORMED, t)
    assert f.passed is False and "您本期账单" in f.evidence


# --- hold -----------------------------------------------------------------------------------

HOLD = {"type": "hold", "ask": {"phrases": ["请您稍等", "请稍等"]},
        "thank": {"phrases": ["感谢您的耐心等待", "让您久等了"]}}


def test_no_hold_is_not_applicable():
    t = transcript([("agent", 0.0, 2.0, "请稍等"), ("agent", 4.0, 6.0, "查到了")])
    assert passed(run(HOLD, t)) is None


def test_announced_hold_thanked_on_return_passes():
    t = transcript([("agent", 0.0, 2.0, "请您稍等"), ("customer", 2.2, 3.0, "好的"),
                    ("agent", 30.0, 33.0, "让您久等了，查到了")])
    [f] = run(HOLD, t)
    assert f.passed is True and "27 s" in f.detail


def test_announced_hold_without_thanks_fails():
    t = transcript([("agent", 0.0, 2.0, "请您稍等"), ("agent", 30.0, 33.0, "查到了")])
    [f] = run(HOLD, t)
    assert f.passed is False and "no thanks" in f.detail


def test_silent_hold_fails():
    t = transcript([("agent", 0.0, 2.0, "我看一下"), ("agent", 40.0, 43.0, "查到了")])
    [f] = run(HOLD, t)
    assert f.passed is False and "silent hold" in f.detail and f.start == 2.0


def test_a_silent_pause_of_exactly_the_limit_fails_despite_float_rounding():
    # 51.3 - 31.3 is 19.999999999999996 in floating point; it is a 20 s pause
    rows = [("agent", 0.0, 2.0, "您好"), ("customer", 2.5, 31.3, "我想问一下那个基金的赎回 那怎么办"),
            ("agent", 51.3, 55.0, "喂 在听吗 查到了")]
    [f] = run({**HOLD, "silent_hold_s": 20}, transcript(rows))
    assert f.passed is False and "silent hold" in f.detail


def test_an_unannounced_pause_between_the_agents_own_turns_fails_sooner():
    # the agent goes quiet to work after their own turn and comes back to talk: 15 s fails;
    # a pause the customer takes (they went to fetch the card) keeps the longer limit
    params = {**HOLD, "silent_hold_s": 20, "agent_silent_hold_s": 12}
    agent_quiet = transcript([("agent", 0.0, 2.0, "好的 核实通过"), ("agent", 17.0, 20.0, "您这张卡的年费是三百元")])
    [f] = run(params, agent_quiet)
    assert f.passed is False and "silent hold: 15 s" in f.detail
    customer_away = transcript([("agent", 0.0, 2.0, "请提供卡号"), ("customer", 2.5, 4.0, "你等一下 我去拿卡"),
                                ("customer", 19.0, 21.0, "卡号是六二二八")])
    assert passed(run(params, customer_away)) is None
    short = transcript([("agent", 0.0, 2.0, "好的"), ("agent", 13.0, 15.0, "查到了")])
    assert passed(run(params, short)) is None
    assert passed(run({**HOLD, "silent_hold_s": 20}, agent_quiet)) is None


def test_an_unanswered_customer_turn_fails_sooner_but_a_late_opening_does_not():
    # the customer asks and the agent works in silence before answering: the agent owes the
    # next words, so 14 s fails; a pause before the agent's first words is the greeting's matter
    params = {**HOLD, "silent_hold_s": 20, "agent_silent_hold_s": 12}
    unanswered = transcript([("agent", 0.0, 2.0, "您好 请讲"), ("customer", 2.5, 6.0, "那我什么时候能拿到退款"),
                             ("agent", 20.0, 24.0, "退款三到五个工作日到账")])
    [f] = run(params, unanswered)
    assert f.passed is False and "silent hold: 14 s" in f.detail
    late_opening = transcript([("customer", 0.0, 2.0, "喂 能听到吗"), ("agent", 16.0, 20.0, "您好 这里是客服")])
    assert passed(run(params, late_opening)) is None


def test_a_pause_the_customer_ends_by_asking_if_anyone_is_there_fails_sooner():
    # the agent goes quiet after their own turn and the customer breaks the silence with
    # "hello? no sound?": the agent owed the next words, as if they had spoken next
    params = {**HOLD, "silent_hold_s": 20, "agent_silent_hold_s": 12,
              "dead_air_prompt": {"speaker": "customer", "patterns": ["(怎么|咋)(半天)?没(声音|动静)"]}}
    prompted = transcript([("agent", 0.0, 2.0, "好的 核实通过"), ("customer", 19.0, 21.0, "喂 怎么半天没声音"),
                           ("agent", 22.0, 25.0, "我在查")])
    [f] = run(params, prompted)
    assert f.passed is False and "silent hold: 17 s" in f.detail
    # the same pause ended by the customer's own business keeps the longer limit
    own_turn = transcript([("agent", 0.0, 2.0, "好的 核实通过"), ("customer", 19.0, 21.0, "我还想问一下年费"),
                           ("agent", 22.0, 25.0, "好的")])
    assert passed(run(params, own_turn)) is None
    # and an agent who asks the same question is not a customer's prompt
    agent_asks = transcript([("customer", 0.0, 2.0, "我想查账单"), ("agent", 2.5, 4.0, "好的"),
                             ("customer", 19.0, 21.0, "嗯"), ("agent", 21.5, 24.0, "怎么没声音了")])
    assert passed(run(params, agent_asks)) is None


def test_hold_times_come_from_voice_activity_when_there_is_audio():
    t = transcript([("agent", 0.0, 2.0, "请您稍等"), ("agent", 5.0, 8.0, "让您久等了")])
    voice = VoiceActivity(agent=(Interval(0.0, 2.0), Interval(25.0, 28.0)), duration=28.0)
    [f] = run(HOLD, t, voice=voice)
    assert f.passed is True and "23 s" in f.detail


# --- silence and overlap -------------------------------------------------------------------

def test_long_silence_fails_but_an_announced_hold_does_not():
    rows = [("agent", 0.0, 2.0, "请您稍等"), ("agent", 40.0, 42.0, "好了"),
            ("agent", 70.0, 72.0, "还在吗")]
    params = {"type": "silence", "max_gap_s": 20, "exclude_holds": {"phrases": ["请您稍等"]}}
    findings = run(params, transcript(rows))
    assert [(f.start, f.end) for f in findings] == [(42.0, 70.0)]


def test_agent_talking_over_the_customer_is_found():
    t = transcript([("customer", 0.0, 5.0, "我想说的是这个问题一直没有解决"),
                    ("agent", 3.0, 6.0, "您听我说"), ("customer", 7.0, 9.0, "好")])
    [f] = run({"type": "overlap", "min_overlap_s": 1.0, "max_count": 0}, t)
    assert f.passed is False and f.start == 3.0 and f.end == 5.0


def test_customer_interrupting_the_agent_is_not_the_agents_fault():
    t = transcript([("agent", 0.0, 5.0, "我给您解释一下这个规定"), ("customer", 3.0, 6.0, "我不听")])
    assert passed(run({"type": "overlap", "max_count": 0}, t)) is True


# --- speech rate ----------------------------------------------------------------------------

def test_speech_rate_too_fast_fails_and_states_the_rate():
    t = transcript([("agent", 0.0, 20.0, "字" * 150), ("agent", 21.0, 31.0, "字" * 50)])
    [f] = run({"type": "speech_rate", "min_per_min": 150, "max_per_min": 330}, t)
    assert f.passed is False and "400 characters per minute" in f.detail


def test_speech_rate_counts_words_in_english():
    t = transcript([("agent", 0.0, 30.0, " ".join(["word"] * 75))], language="en")
    [f] = run({"type": "speech_rate", "min_per_min": 100, "max_per_min": 200}, t)
    assert f.passed is True and "150 words per minute" in f.detail


def test_speech_rate_needs_enough_talk():
    t = transcript([("agent", 0.0, 5.0, "您好")])
    assert passed(run({"type": "speech_rate", "min_per_min": 150}, t)) is None


# --- sensitive ------------------------------------------------------------------------------

SENSITIVE = {"type": "sensitive", "window_chars": 16,
             "secret_terms": ["密码", "验证码", "背[后面]?的?三位"],
             "ask_cues": ["告诉", "报一下", "是多少", "念一下"],
             "negation_cues": ["不要", "勿", "不会"], "safe_cues": ["输入", "按键"]}


@pytest.mark.parametrize("text", ["请您告诉我收到的验证码", "您的查询密码是多少",
                                  "麻烦报一下卡背后三位数", "请您把秘码念一下"])
def test_asking_for_a_secret_aloud_fails(text):
    [f] = run(SENSITIVE, transcript([("agent", 0.0, 4.0, text)]))
    assert f.passed is False and "asks for a secret" in f.detail


@pytest.mark.parametrize("text", ["请勿告诉任何人您的密码和验证码", "请您在话机上按键输入查询密码",
                                  "我们不会向您索要验证码，请不要告诉别人",
                                  "请您报一下卡号后四位"])
def test_warnings_keypad_entry_and_last_four_digits_pass(text):
    assert passed(run(SENSITIVE, transcript([("agent", 0.0, 4.0, text)]))) is True


def test_customer_reading_a_secret_is_not_an_agent_request():
    t = transcript([("customer", 0.0, 3.0, "我告诉你我的密码是多少吧")])
    assert passed(run(SENSITIVE, t)) is True


def test_agent_reading_a_full_card_number_aloud_is_found():
    t = transcript([("agent", 0.0, 6.0, "跟您核对一下卡号 4539 1488 0343 6467")])
    [f] = run({"type": "sensitive", "pii_kinds": ["card"]}, t)
    assert f.passed is False and "card" in f.detail


# --- classifier -----------------------------------------------------------------------------

def test_classifier_check_without_a_prediction_is_not_applicable():
    t = transcript([("customer", 0.0, 3.0, "我要投诉")])
    params = {"type": "classifier", "model": "complaint_risk", "label": "high",
              "min_probability": 0.7}
    assert passed(run(params, t)) is None


def test_classifier_check_fails_at_the_threshold():
    t = transcript([("customer", 0.0, 3.0, "我要投诉")])
    params = {"type": "classifier", "model": "complaint_risk", "label": "high",
              "min_probability": 0.7}
    prediction = Prediction("complaint_risk", "high", 0.82, {"high": 0.82, "low": 0.18})
    [f] = run(params, t, predictions={"complaint_risk": prediction})
    assert f.passed is False and "0.82" in f.detail


def test_a_pattern_matched_on_the_pinyin_key_is_named_as_written(zh_rubric):
    """A homophone pattern (工号 + digits, matched by sound) is named in the finding as
    the rubric writes it, not by the key's internal character codes."""
    from qa.rubric import score_transcript

    call = transcript([("agent", 0, 4, "您好招商银行工号三七二五很高兴为您服务"),
                       ("customer", 4, 6, "你好")], organisation="招商银行")
    card = score_transcript(zh_rubric, call)
    intro = next(i for i in card.items if i.item_id == "self_intro")
    assert intro.status == "pass"
    detail = intro.findings[0].detail
    assert "工号" in detail and "(pattern)" in detail
    assert not any(0xE000 <= ord(ch) <= 0xF8FF for ch in detail), detail


# --- forbidden: the tone model's exemptions ------------------------------------------------

def bundled_forbidden(rubric, rows, language):
    item = next(i for i in rubric.items() if i.id == "forbidden_words")
    return [f for f in run_check(prepare(transcript(rows, language=language)), item.checks[0], item.id)
            if f.passed is False]


@pytest.mark.parametrize("text", ["嗯 没了吧", "那没别的事了吧", "行了，就这样"])
def test_a_bare_end_of_call_question_is_not_given_to_the_tone_model(zh_rubric, text):
    assert bundled_forbidden(zh_rubric, [("agent", 0.0, 2.0, text)], "zh") == []


@pytest.mark.parametrize("text", ["没了吧 没了我挂了", "没了吧 您这车技也是挺厉害的"])
def test_an_end_of_call_question_with_more_in_it_is_still_judged(zh_rubric, text):
    assert bundled_forbidden(zh_rubric, [("agent", 0.0, 3.0, text)], "zh")


@pytest.mark.parametrize("text", ["It's TT$5 per transfer to another bank.",
                                  "That's R10 per withdrawal at another bank's ATM."])
def test_a_bare_fee_statement_is_not_given_to_the_tone_model(text):
    assert bundled_forbidden(bundled("en-card-services"), [("agent", 0.0, 3.0, text)], "en") == []


def test_a_fee_statement_with_a_jibe_is_still_judged():
    text = "It's five dollars per transfer, maybe read the fee schedule next time."
    assert bundled_forbidden(bundled("en-card-services"), [("agent", 0.0, 3.0, text)], "en")


def test_a_tone_exempt_segment_is_not_sent_to_the_tone_model():
    from qa.models import ModelDirectory

    # threshold 0: the tone model flags every segment it sees, so only the exemption spares one
    params = {"type": "forbidden", "phrases": ["rubbish"], "tone_model": "agent_tone_en",
              "tone_min_probability": 0.0,
              "tone_exempt": [r".*(?:\bnobody (here )?(should|will) ask you for\b).*"]}
    t = transcript([("agent", 0.0, 3.0, "dont tell me the code nobody here should ask you for it"),
                    ("agent", 4.0, 6.0, "okay whatever")], language="en")
    check = SPEC.validate_python(params)
    check.bind({}, {"agent_tone_en": ModelDirectory()["agent_tone_en"]})
    flagged = {f.segment_index for f in run_check(prepare(t), check, "item") if f.passed is False}
    assert flagged == {1}


@pytest.mark.parametrize("customer, expected", [
    ("hello are you there", "fail"), ("Hello? Hello?", "fail"), ("can you hear me", "fail"),
    ("and what about the other card", "na")])
def test_an_english_customer_asking_whether_anyone_is_there_ends_a_silent_hold(customer, expected):
    # en-card-services' dead_air_prompt: a 16 s pause after "let me check" is a silent hold
    # (12 s) when the customer ends it asking whether anyone is there; ended by the customer's
    # own next words it keeps the 20 s limit
    from qa.rubric import score_transcript

    rows = [("agent", 0.0, 4.0, "thank you for calling barclays my name is anna"),
            ("customer", 5.0, 8.0, "my transfer has not arrived"),
            ("agent", 9.0, 11.0, "thank you you are verified let me check"),
            ("customer", 27.0, 29.0, customer),
            ("agent", 29.5, 33.0, "i can see the transfer it is pending at the other bank")]
    card = score_transcript(bundled("en-card-services"),
                            transcript(rows, language="en", organisation="Barclays"))
    assert next(i.status for i in card.items if i.item_id == "hold_etiquette") == expected
