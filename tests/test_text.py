"""qa.text: display form, match form with offsets and pinyin keys, tokenisation, and
finding and redacting card, ID and phone numbers and secrets."""

from __future__ import annotations

import pytest

from qa.text import (
    china_id_valid,
    detect_language,
    find_pii,
    luhn_valid,
    match_text,
    match_texts,
    normalise_phrase,
    pinyin_key,
    redact,
    to_display,
    to_display_many,
    tokenize,
)

# A Luhn-valid card number and its digits spoken one by one (幺 = 1, 洞 = 0, 两 = 2).
CARD = "6225880137005121"
SPOKEN_CARD = "六二二五 八八洞幺 三七洞洞 五幺两幺"
ID_NUMBER = "11010519491231002X"


def id_with_check_digit(first17: str) -> str:
    """An 18-character ID number completed with its correct check digit (GB 11643)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def only_digits_changed(before: str, after: str) -> bool:
    return len(before) == len(after) and all(
        a == b or b == "*" for a, b in zip(before, after))


# --- to_display / detect_language ----------------------------------------------------------

def test_display_form_converts_traditional_to_simplified():
    assert to_display("招商銀行，請稍等") == "招商银行,请稍等"


def test_display_form_folds_full_width_letters_and_digits():
    assert to_display("ＡＢＣ１２３") == "ABC123"


def test_display_form_collapses_white_space_and_trims():
    assert to_display("  您好 \t\n 请问\u3000有什么  ") == "您好 请问 有什么"


def test_display_form_of_empty_text_is_empty():
    assert to_display("") == ""


def test_language_is_zh_for_chinese_text():
    assert detect_language("您好，请问有什么可以帮您？") == "zh"


def test_language_is_en_for_english_text():
    assert detect_language("Thank you for calling, how may I help?") == "en"


def test_language_is_zh_when_a_fifth_of_the_letters_are_chinese():
    assert detect_language("Hello 你好") == "zh"  # 2 of 7 letters
    assert detect_language("Hello world 你") == "en"  # 1 of 11 letters


def test_language_of_text_without_letters_defaults_to_zh():
    assert detect_language("12345 ...") == "zh"


# --- match_text --------------------------------------------------------------------------

def test_punctuation_and_spaces_between_chinese_characters_are_dropped():
    assert match_text("很高兴， 为您 服务！").text == "很高兴为您服务"


def test_english_words_keep_one_space_between_them():
    assert match_text("Please,   hold...on!").text == "please hold on"


def test_no_space_is_kept_between_english_and_chinese():
    assert match_text("我用 Visa 卡").text == "我用visa卡"


def test_apostrophes_are_dropped_inside_words():
    assert match_text("I don't know, it’s fine").text == "i dont know its fine"


def test_match_form_is_lower_case():
    assert match_text("CALM Down").text == "calm down"


def test_offsets_map_every_match_character_back_to_its_display_character():
    display = "您好！Please HOLD, 请稍等。I'm here"
    m = match_text(display)
    assert len(m.offsets) == len(m.text)
    assert list(m.offsets) == sorted(set(m.offsets))
    for ch, at in zip(m.text, m.offsets):
        if ch == " ":
            assert not display[at].isalnum()  # the space stands for a separator
        else:
            assert display[at].lower() == ch


def test_evidence_returns_the_exact_display_substring_with_punctuation_inside():
    display = "嗯，很高兴，为您服务！请问"
    m = match_text(display)
    start = m.text.index("很高兴为您服务")
    end = start + len("很高兴为您服务")
    assert m.span(start, end) == (2, 10)
    assert m.evidence(start, end) == "很高兴，为您服务"


def test_evidence_of_english_words_keeps_their_original_case_and_separators():
    m = match_text("Sir, please CALM, down.")
    start = m.text.index("calm down")
    assert m.evidence(start, start + len("calm down")) == "CALM, down"


def test_pinyin_keys_have_one_character_per_match_character():
    m = match_text("您好，招商银行 Visa 卡号九五五八八")
    assert len(m.pinyin) == len(m.loose) == len(m.text)


def test_normalise_phrase_gives_the_match_form_of_a_lexicon_phrase():
    assert normalise_phrase("請稍等！") == "请稍等"
    assert normalise_phrase("Calm  Down") == "calm down"


# --- pinyin keys -------------------------------------------------------------------------

@pytest.mark.parametrize("heard, meant", [("招商因行", "招商银行"), ("请少等", "请稍等"),
                                          # 行 after yin is read hang: 银航 and 银杭 are 银行 by sound
                                          ("招商银航", "招商银行"), ("上海商业银杭", "上海商业银行"),
                                          ("招商音行", "招商银航")])
def test_homophones_have_equal_pinyin_keys(heard, meant):
    assert normalise_phrase(heard) != normalise_phrase(meant)
    assert pinyin_key(heard) == pinyin_key(meant)


def test_different_words_have_different_pinyin_keys():
    assert pinyin_key("招商银行") != pinyin_key("建设银行")
    assert pinyin_key("行动") != pinyin_key("航动")  # 行 alone is still xing


def test_nin_and_ni_merge_only_in_the_loose_key():
    assert pinyin_key("为你服物") != pinyin_key("为您服务")
    assert pinyin_key("为你服物", loose=True) == pinyin_key("为您服务", loose=True)


@pytest.mark.parametrize("heard, meant", [
    ("资道", "知道"),    # zh / z
    ("四", "是"),        # sh / s
    ("粗理", "处理"),    # ch / c
    ("应行", "银行"),    # -ing / -in
    ("生请", "申请"),    # -eng / -en (and sh / s)
    ("班忙", "帮忙"),    # -ang / -an
    ("流奶", "牛奶"),    # l / n
], ids=["zh-z", "sh-s", "ch-c", "ing-in", "eng-en", "ang-an", "l-n"])
def test_accent_confusions_share_the_loose_key(heard, meant):
    assert pinyin_key(heard, loose=True) == pinyin_key(meant, loose=True)


@pytest.mark.parametrize("heard, meant", [("资道", "知道"), ("四", "是"), ("应行", "银行"),
                                          ("生请", "申请"), ("班忙", "帮忙")],
                         ids=["zh-z", "sh-s", "ing-in", "eng-en", "ang-an"])
def test_accent_confusions_keep_different_strict_keys(heard, meant):
    assert pinyin_key(heard) != pinyin_key(meant)


def test_spoken_digit_run_has_the_pinyin_key_of_the_written_number():
    assert pinyin_key("九五五八八") == pinyin_key("95588") == "95588"
    assert pinyin_key("请拨打九五五八八") == pinyin_key("请拨打95588")


def test_yao_dong_and_liang_read_as_digits_in_a_run():
    assert pinyin_key("幺洞洞八六") == "10086"
    assert pinyin_key("两幺洞") == "210"


def test_spoken_digit_run_keeps_its_characters_in_the_match_text():
    assert match_text("九五五八八").text == "九五五八八"


def test_fewer_than_three_spoken_digits_stay_words_in_the_key():
    assert pinyin_key("九五") != "95"
    assert pinyin_key("一下") != pinyin_key("1下")


# --- tokenize -----------------------------------------------------------------------------

def test_domain_words_stay_whole():
    words = tokenize("您可以申请账单分期，或者提高临时额度，请联系信用卡中心")
    assert {"账单分期", "临时额度", "信用卡中心"} <= set(words)


def test_chinese_tokens_drop_punctuation_and_spaces():
    words = tokenize("好的， 请稍等！")
    assert all(w.strip() and w not in "，！" for w in words)
    assert "".join(words) == "好的请稍等"


def test_english_tokens_are_lower_case_words_keeping_contractions():
    assert tokenize("Please DON'T hang up, OK?") == ["please", "don't", "hang", "up", "ok"]


def test_tokenize_detects_the_language_when_not_given():
    assert tokenize("Hold on") == ["hold", "on"]


# --- checksums ----------------------------------------------------------------------------

def test_luhn_accepts_a_valid_card_number():
    assert luhn_valid(CARD)
    assert luhn_valid("4111111111111111")


def test_luhn_rejects_a_changed_digit():
    assert not luhn_valid(CARD[:-1] + "2")


def test_luhn_rejects_non_digits_and_empty_text():
    assert not luhn_valid("6225 8801 3700 5121")
    assert not luhn_valid("")


def test_china_id_with_x_check_digit_is_valid():
    assert china_id_valid(ID_NUMBER)
    assert china_id_valid(ID_NUMBER.lower())


def test_china_id_with_wrong_check_digit_is_invalid():
    assert not china_id_valid(ID_NUMBER[:-1] + "1")


@pytest.mark.parametrize("birth", ["19491331", "19491232", "19490100", "18991231"],
                         ids=["month-13", "day-32", "day-0", "year-1899"])
def test_china_id_with_impossible_birth_date_is_invalid(birth):
    assert not china_id_valid(id_with_check_digit("110105" + birth + "002"))


@pytest.mark.parametrize("birth", ["19490230", "19490431"], ids=["feb-30", "apr-31"])
def test_china_id_with_day_past_the_end_of_its_month_is_invalid(birth):
    assert not china_id_valid(id_with_check_digit("110105" + birth + "001"))


def test_china_id_of_wrong_length_is_invalid():
    assert not china_id_valid(ID_NUMBER[:-1])


# --- find_pii ---------------------------------------------------------------------------

def test_card_number_written_with_spaces_is_found():
    text = "我的卡号是 6225 8801 3700 5121，谢谢"
    [span] = find_pii(text)
    assert (span.kind, span.digits, span.valid) == ("card", CARD, True)
    assert text[span.start:span.end] == "6225 8801 3700 5121"
    assert len(span.positions) == 16


def test_card_number_spoken_in_chinese_numerals_is_found():
    text = "卡号是" + SPOKEN_CARD + "。"
    [span] = find_pii(text)
    assert (span.kind, span.digits, span.valid) == ("card", CARD, True)
    assert text[span.start:span.end] == SPOKEN_CARD


def test_card_number_failing_luhn_is_found_but_not_valid():
    [span] = find_pii("卡号 " + CARD[:-1] + "9")
    assert (span.kind, span.valid) == ("card", False)


def test_id_number_ending_in_x_is_found():
    text = f"身份证号{ID_NUMBER}没错"
    [span] = find_pii(text)
    assert (span.kind, span.digits, span.valid) == ("id_number", ID_NUMBER, True)
    assert text[span.start:span.end] == ID_NUMBER


def test_id_number_spoken_in_chinese_numerals_is_found():
    [span] = find_pii("身份证号是幺幺洞幺洞五幺九四九幺两三幺洞洞两X")
    assert (span.kind, span.digits) == ("id_number", ID_NUMBER)


def test_mobile_number_is_found():
    text = "手机号 138 1234 5678 对吗"
    [span] = find_pii(text)
    assert (span.kind, span.digits) == ("phone", "13812345678")
    assert text[span.start:span.end] == "138 1234 5678"


def test_landline_number_with_area_code_is_found():
    [span] = find_pii("座机是010-62345678")
    assert (span.kind, span.digits) == ("phone", "01062345678")


def test_secret_after_a_password_cue_is_found():
    text = "我的密码是123456"
    [span] = find_pii(text)
    assert (span.kind, span.digits) == ("secret", "123456")
    assert text[span.start:span.end] == "123456"


def test_spoken_secret_after_a_cue_is_found():
    [span] = find_pii("验证码是幺二三四五六")
    assert (span.kind, span.digits) == ("secret", "123456")


def test_short_number_without_a_cue_is_not_pii():
    assert find_pii("金额 500 元，2026年，工号 8848") == []


# --- redact -------------------------------------------------------------------------------

PII_TEXT = (f"卡号 6225 8801 3700 5121，手机13812345678，身份证{ID_NUMBER}，"
            "密码是654321，谢谢")


def test_redaction_keeps_text_length_and_every_other_character():
    redacted = redact(PII_TEXT)
    assert redacted != PII_TEXT
    assert only_digits_changed(PII_TEXT, redacted)


def test_redaction_keeps_the_last_four_digits_of_a_card():
    assert redact("卡号 6225 8801 3700 5121") == "卡号 **** **** **** 5121"


def test_redaction_keeps_the_last_four_of_a_spoken_card():
    assert redact(SPOKEN_CARD) == "**** **** **** 五幺两幺"


def test_redaction_masks_a_mobile_number_as_first_three_and_last_four():
    assert redact("手机13812345678") == "手机138****5678"


def test_redaction_keeps_the_last_four_of_an_id_number():
    assert redact(ID_NUMBER) == "*" * 14 + "002X"


def test_redaction_masks_a_secret_entirely():
    assert redact("密码是654321，好的") == "密码是******，好的"


def test_redaction_leaves_short_numbers_and_words_with_yi_and_liang_alone():
    text = "金额 500 元，2026年，请您稍等一下，两天内到账，一两个工作日"
    assert redact(text) == text


def test_redaction_uses_the_given_mask_character():
    assert redact("手机13812345678", mask="#") == "手机138####5678"


def test_kinds_limits_what_is_masked():
    redacted = redact(PII_TEXT, kinds={"phone"})
    assert "138****5678" in redacted
    assert "6225 8801 3700 5121" in redacted
    assert ID_NUMBER in redacted and "654321" in redacted


def test_kinds_secret_only_masks_secrets():
    redacted = redact(PII_TEXT, kinds={"secret"})
    assert "密码是******" in redacted
    assert "13812345678" in redacted


# --- bugs ----------------------------------------------------------------------------------

def test_match_text_handles_a_capital_dotted_i():
    m = match_text("İstanbul branch")
    assert len(m.text) == len(m.offsets)


def test_redaction_leaves_a_date_and_time_alone():
    text = "请在2026-01-15 10:30前还款"
    assert redact(text) == text


# --- a call's texts at once -------------------------------------------------------------

CALL_TEXTS = ["您好，招商銀行信用卡中心", "卡号六二二五 八八零一", "ＡＢＣ１２３ 請稍等", "",
              "我用 Visa 卡", "   ", "好的\n謝謝", "I don't know, it’s fine", "……", "幺三八洞洞"]


def test_a_calls_texts_get_the_display_form_each_would_get_alone():
    assert to_display_many(CALL_TEXTS) == [to_display(t) for t in CALL_TEXTS]


def test_a_calls_texts_get_the_match_form_each_would_get_alone():
    displays = [to_display(t) for t in CALL_TEXTS]
    together = match_texts(displays)
    alone = [match_text(d) for d in displays]
    assert [(m.display, m.text, m.pinyin, m.loose, m.offsets) for m in together] == \
        [(m.display, m.text, m.pinyin, m.loose, m.offsets) for m in alone]


# Full-width letters before combining marks (Ａ\u0301 folds to Á), ideographic and other
# Unicode spaces, underscores and fancy punctuation: where the shortcuts of a call's joined
# texts would go wrong first.
TRICKY_TEXTS = ["Ａ\u0301ｂ\u0308，请稍等\u3000\u3000好的", "卡号\u2002六二二五\u00a0八八\u205f零一",
                "工号_三七_二五＿好", "您好\u3000\u0301招商银行【信用卡】中心", "ｆｉ\ufb01 ①②③ ½",
                "请\u2028稍等\u2029谢谢", "\u3000\u3000", "密码：１２３４５６"]


def test_tricky_texts_get_the_display_and_match_forms_each_would_get_alone():
    displays = to_display_many(TRICKY_TEXTS)
    assert displays == [to_display(t) for t in TRICKY_TEXTS]
    together = match_texts(displays)
    assert [(m.text, m.pinyin, m.loose) for m in together] == \
        [(m.text, m.pinyin, m.loose) for m in (match_text(d) for d in displays)]


def test_the_match_form_keeps_exactly_the_letters_and_digits():
    for display in to_display_many(TRICKY_TEXTS):
        if not any(ch.isascii() and ch.isalpha() for ch in display):
            assert match_text(display).text == "".join(ch for ch in display if ch.isalnum())


def test_texts_seen_before_get_the_forms_they_got_the_first_time(monkeypatch):
    import qa.text

    def forms(texts):
        return [(m.display, m.text, m.pinyin, m.loose, m.offsets)
                for m in match_texts(to_display_many(texts))]

    fresh = [(m.display, m.text, m.pinyin, m.loose, m.offsets)
             for m in (match_text(to_display(t)) for t in CALL_TEXTS)]
    calls = [CALL_TEXTS[:4], CALL_TEXTS[2:], CALL_TEXTS[::-1], CALL_TEXTS + CALL_TEXTS]
    expected = [fresh[:4], fresh[2:], fresh[::-1], fresh + fresh]
    for call, want in zip(calls * 2, expected * 2):
        assert forms(call) == want
    monkeypatch.setattr(qa.text, "KEPT_TEXTS", 6)  # full: starts afresh
    monkeypatch.setattr(qa.text, "_DISPLAYS", {})
    monkeypatch.setattr(qa.text, "_MATCH_FORMS", {})
    for call, want in zip(calls * 2, expected * 2):
        assert forms(call) == want
        assert len(qa.text._MATCH_FORMS) <= max(6, len(set(CALL_TEXTS)))  # or one call's


def test_latin_letters_with_diacritics_match_their_plain_letters():
    # an agent named Siobhan Kelly says (and a transcript writes) Siobhán; Chinese is unchanged
    assert match_text("My name is Siobhán.").text == "my name is siobhan"
    assert match_text("José Núñez, Zoë").text == "jose nunez zoe"
    m = match_text("您好 Renée 王")
    assert m.text == "您好renee王" and m.evidence(2, 7) == "Renée"
