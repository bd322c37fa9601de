"""qa.matcher: many phrases in one pass (exact, homophone, loose), allow-list contexts,
English word boundaries, approximate location and pinyin-key regular expressions."""

from __future__ import annotations

import itertools
import re

import pytest

from qa.matcher import LexiconEntry, PhraseMatcher, SharedScan, fuzzy_locate, key_pattern
from qa.text import match_text, to_display
from tests.conftest import REPO


def matcher(*phrases: str, **options) -> PhraseMatcher:
    return PhraseMatcher([LexiconEntry(p) for p in phrases], **options)


def mt(text: str):
    return match_text(to_display(text))


def found(pm: PhraseMatcher, text: str) -> list[tuple[str, str, str]]:
    """(phrase, form, display evidence) of every hit, in order."""
    m = mt(text)
    return [(h.entry.phrase, h.form, m.evidence(h.start, h.end)) for h in pm.find(m)]


# --- many phrases at once --------------------------------------------------------------------

def generated_phrases(count: int) -> list[str]:
    """Distinct four-character phrases from the heavenly stems (甲乙丙丁…), none of which a
    call says by accident."""
    stems = "甲乙丙丁戊己庚辛壬癸"
    return ["".join(p) for p in itertools.islice(itertools.product(stems, repeat=4), count)]


def test_many_phrases_are_found_in_one_pass_with_correct_spans():
    noise = generated_phrases(500)
    real = ["招商银行", "很高兴为您服务", "请稍等", "信用卡中心", "calm down"]
    pm = matcher(*noise, *real)
    assert len(pm) == 505
    said = noise[137], noise[421]
    display = (f"您好，招商因行信用卡中心，很高兴为您服务。编号{said[0]}，"
               f"Please calm down. 请稍等，备注{said[1]}。")
    m = mt(display)
    hits = pm.find(m)
    got = [(h.entry.phrase, h.form, m.evidence(h.start, h.end)) for h in hits]
    assert got == [
        ("招商银行", "pinyin", "招商因行"),
        ("信用卡中心", "exact", "信用卡中心"),
        ("很高兴为您服务", "exact", "很高兴为您服务"),
        (said[0], "exact", said[0]),
        ("calm down", "exact", "calm down"),
        ("请稍等", "exact", "请稍等"),
        (said[1], "exact", said[1]),
    ]
    for h in hits:  # spans are match-form positions of the phrase itself
        assert h.end - h.start == len(mt(h.entry.phrase).text)
        assert h.score == 100.0


def test_hits_are_sorted_by_position():
    pm = matcher("请稍等", "您好", "招商银行")
    m = mt("您好，招商银行，请稍等")
    starts = [h.start for h in pm.find(m)]
    assert starts == sorted(starts) and len(starts) == 3


# --- forms ------------------------------------------------------------------------------------

def test_exact_occurrence_is_reported_as_exact():
    assert found(matcher("招商银行"), "欢迎致电招商银行") == [("招商银行", "exact", "招商银行")]


def test_traditional_phrase_matches_simplified_speech_exactly():
    assert found(matcher("請稍等"), "好的请稍等") == [("請稍等", "exact", "请稍等")]


def test_homophone_is_reported_as_pinyin():
    assert found(matcher("招商银行"), "欢迎致电招商因行") == [("招商银行", "pinyin", "招商因行")]


def test_exact_occurrence_is_not_reported_again_as_a_homophone():
    assert [form for _, form, _ in found(matcher("招商银行"), "招商银行")] == ["exact"]


def test_homophones_are_not_matched_when_pinyin_is_off():
    assert found(matcher("招商银行", pinyin=False), "欢迎致电招商因行") == []


def test_loose_confusion_matches_only_when_loose_is_on():
    assert found(matcher("为您服务"), "很高兴为你服物") == []
    assert found(matcher("为您服务", loose=True), "很高兴为你服物") == [
        ("为您服务", "loose", "为你服物")]


def test_phrase_shorter_than_min_pinyin_chars_matches_only_exactly():
    pm = matcher("稍等")  # two characters, default minimum three
    assert found(pm, "请少等") == []
    assert found(pm, "请稍等") == [("稍等", "exact", "稍等")]


def test_lower_min_pinyin_chars_lets_short_phrases_match_homophones():
    assert found(matcher("稍等", min_pinyin_chars=2), "请少等") == [("稍等", "pinyin", "少等")]


def test_spoken_digits_in_a_phrase_match_the_written_number():
    assert found(matcher("九五五八八"), "请拨打95588") == [("九五五八八", "pinyin", "95588")]


def test_phrase_written_in_digits_matches_the_number_spoken():
    assert found(matcher("95588"), "请拨打九五五八八") == [("95588", "pinyin", "九五五八八")]


# --- allow-list contexts ----------------------------------------------------------------------

def test_allow_context_suppresses_a_hit_inside_it_but_not_one_outside():
    pm = matcher("不知道", allow=["不知道您现在是否方便"])
    text = "不知道您现在是否方便？我也不知道。"
    m = mt(text)
    hits = pm.find(m)
    assert len(hits) == 1
    assert m.evidence(hits[0].start, hits[0].end) == "不知道"
    assert m.span(hits[0].start, hits[0].end) == (13, 16)  # the second one


def test_allow_context_said_with_a_homophone_still_suppresses():
    text = "不知道您现在是否方变"  # 变 for 便
    assert found(matcher("不知道"), text) == [("不知道", "exact", "不知道")]
    assert found(matcher("不知道", allow=["不知道您现在是否方便"]), text) == []


def test_without_allow_context_every_occurrence_is_a_hit():
    assert len(found(matcher("不知道"), "不知道您现在是否方便？我也不知道。")) == 2


# --- English ---------------------------------------------------------------------------------

def test_english_phrase_does_not_match_inside_a_longer_word():
    assert found(matcher("hell"), "Hello, how are you?") == []


def test_english_phrase_matches_a_whole_word():
    assert found(matcher("hell"), "What the hell.") == [("hell", "exact", "hell")]


def test_english_multi_word_phrase_matches_across_one_space():
    assert found(matcher("calm down"), "please calm down") == [
        ("calm down", "exact", "calm down")]


def test_english_phrase_matches_whatever_its_case_and_separators():
    assert found(matcher("Calm Down"), "PLEASE CALM,  DOWN!") == [
        ("Calm Down", "exact", "CALM, DOWN")]


def test_english_phrase_matches_right_next_to_chinese():
    assert found(matcher("vip"), "您是VIP客户") == [("vip", "exact", "VIP")]


def test_number_phrase_does_not_match_inside_a_longer_number():
    assert found(matcher("95588"), "请拨打955880") == []


# --- duplicates and edge cases ---------------------------------------------------------------

def test_duplicate_phrases_each_give_their_own_hit_once():
    first = LexiconEntry("不知道", "attitude", "minor")
    second = LexiconEntry("不知道", "knowledge", "major")
    pm = PhraseMatcher([first, second])
    hits = pm.find(mt("这个我不知道"))
    assert [(h.entry, h.form, h.start, h.end) for h in hits] == [
        (first, "exact", 3, 6), (second, "exact", 3, 6)]


def test_phrases_differing_only_in_punctuation_or_script_are_both_reported():
    pm = matcher("请稍等", "請稍等！")
    assert sorted(found(pm, "请稍等")) == sorted([("请稍等", "exact", "请稍等"),
                                              ("請稍等！", "exact", "请稍等")])


def test_empty_matcher_finds_nothing():
    pm = PhraseMatcher([])
    assert len(pm) == 0
    assert pm.find(mt("招商银行，很高兴为您服务")) == []


def test_matcher_finds_nothing_in_empty_text():
    assert matcher("招商银行").find(mt("")) == []


def test_phrase_of_only_punctuation_never_matches():
    assert found(matcher("！！", "招商银行"), "！！招商银行") == [("招商银行", "exact", "招商银行")]


# --- fuzzy_locate ------------------------------------------------------------------------------

def test_fuzzy_locate_finds_a_standard_phrase_with_a_dropped_character():
    target = mt("您好，很高兴为服务，请问有什么可以帮您")
    located = fuzzy_locate(mt("很高兴为您服务"), target, 80)
    assert located is not None
    score, start, end = located
    assert 80 <= score < 100
    assert start == target.text.index("很高兴为服务")
    assert target.evidence(start, end).startswith("很高兴为服务")


def test_fuzzy_locate_gives_100_for_an_exact_occurrence():
    target = mt("好的，请您稍等一下")
    assert fuzzy_locate(mt("请您稍等一下"), target, 80) == (100.0, 2, 8)  # 好的|请您稍等一下


def test_fuzzy_locate_returns_none_for_unrelated_text():
    assert fuzzy_locate(mt("很高兴为您服务"), mt("今天天气不错我们去公园"), 70) is None


def test_fuzzy_locate_returns_none_below_the_threshold():
    phrase, target = mt("很高兴为您服务"), mt("您好，很高兴为服务，请问有什么可以帮您")
    score = fuzzy_locate(phrase, target, 50)[0]
    assert fuzzy_locate(phrase, target, score + 1) is None


def test_fuzzy_locate_compares_on_sound():
    located = fuzzy_locate(mt("很高兴为您服务"), mt("很高兴为你服物"), 95)
    assert located == (100.0, 0, 7)


def test_fuzzy_locate_span_lies_in_a_target_shorter_than_the_phrase():
    target = mt("请稍等")
    located = fuzzy_locate(mt("请您稍等"), target, 70)
    assert located is not None
    _, start, end = located
    assert (start, end) == (0, 3)
    assert target.evidence(start, end) == "请稍等"


# --- key_pattern ---------------------------------------------------------------------------------

def test_key_pattern_matches_a_homophone_of_its_chinese_characters():
    m = mt("我的公号是幺二三四")
    found_at = key_pattern("工号").search(m.pinyin)
    assert found_at is not None
    assert m.evidence(*found_at.span()) == "公号"


def test_key_pattern_does_not_match_different_sounds():
    assert key_pattern("工号").search(mt("我的手机号是多少").pinyin) is None


def test_key_pattern_keeps_character_classes_and_repetition():
    pattern = key_pattern(r"工号[是为]\d{4,}")
    said = mt("我的公号为幺二三四五")
    found_at = pattern.search(said.pinyin)
    assert found_at is not None
    assert said.evidence(*found_at.span()) == "公号为幺二三四五"
    assert pattern.search(mt("我的工号是123").pinyin) is None  # too few digits
    assert pattern.search(mt("我的工号叫1234").pinyin) is None  # not in the class


def test_key_pattern_keeps_wildcards_and_alternation():
    pattern = key_pattern(r"(请|麻烦)您?稍等.{0,2}一下")
    assert pattern.search(mt("麻烦稍等我一下").pinyin)
    assert pattern.search(mt("请您少等一下").pinyin)
    assert pattern.search(mt("请稍等我们查一下").pinyin) is None  # three characters between


def test_loose_key_pattern_matches_the_loose_key():
    pattern = key_pattern("为您服务", loose=True)
    assert pattern.search(mt("很高兴为你服物").loose)
    assert key_pattern("为您服务").search(mt("很高兴为你服物").pinyin) is None


# --- one scan for a rubric's phrase sets -------------------------------------------------------

def test_scanning_a_whole_call_at_once_gives_each_segment_its_own_hits():
    greeting = matcher("您好", "招商银行", "很高兴为您服务", loose=True)
    rude = matcher("不知道", "你自己看", "calm down", min_pinyin_chars=4)
    scan = SharedScan([greeting, rude])
    segments = [mt(t) for t in ("您好 招商因行 很高兴为你服务", "我不知道", "Please calm down sir",
                                "好的", "你自己看 您好", "calmdown 不是", "")]
    assert scan.scan_call(segments) == [scan.scan(m) for m in segments]
    # hits stay inside their segment: 看 + 您 across segments 4 and 5 is no phrase
    hits = scan.scan_call(segments)[4][scan.slot(rude)]
    assert {(start, end) for _, start, end, _, _ in hits} == {(0, 4)}


def test_hits_kept_across_calls_are_those_of_a_fresh_scan(monkeypatch):
    import qa.matcher

    greeting = matcher("您好", "招商银行", "很高兴为您服务", loose=True)
    rude = matcher("不知道", "你自己看", "calm down", min_pinyin_chars=4)
    scan = SharedScan([greeting, rude])
    calls = [[mt(t) for t in texts] for texts in (
        ("您好 招商因行 很高兴为你服务", "我不知道", "好的", "我不知道"),
        ("我不知道", "Please calm down sir", "你自己看 您好", ""),
        ("好的", "calmdown 不是", "您好 招商因行 很高兴为你服务", "我不知道"))]
    for call in calls * 2:
        assert scan.scan_call_kept(call) == scan.scan_call(call)
    monkeypatch.setattr(qa.matcher, "KEPT_SCANS", 5)  # full: starts afresh
    scan._known.clear()
    for call in calls * 2:
        assert scan.scan_call_kept(call) == scan.scan_call(call)
        assert len(scan._known) <= 5


# --- literal prefilter for regular expressions ------------------------------------------------

def test_required_literals_of_alternations_and_optional_parts():
    from qa.matcher import required_literals

    assert required_literals(re.compile("(说|讲)(了|过)(遍|次)?")) == {"说了", "说过", "讲了", "讲过"}
    assert required_literals(re.compile("放(一百|一万)?个心")) == {"放个心", "放一百个心", "放一万个心"}
    # a lookbehind consumes nothing: the literals come from what the match consumes
    assert required_literals(re.compile("(?<!不)是(你|您)的错")) == {"是你的错", "是您的错"}


def test_patterns_without_fixed_characters_or_ignoring_case_name_no_literals():
    from qa.matcher import required_literals

    assert required_literals(re.compile("[一-龥]{0,6}")) is None
    assert required_literals(re.compile("(?i)bailiff")) is None
    assert required_literals(re.compile("(a|.)b?")) is None


def _lexicon_patterns() -> list[re.Pattern[str]]:
    from qa.checks import REGEX_PREFIX

    patterns = []
    for path in sorted((REPO / "rubrics" / "lexicons").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(REGEX_PREFIX):
                patterns.append(re.compile(line.split("\t")[0][len(REGEX_PREFIX):]))
    return patterns


def test_prefilter_never_drops_a_pattern_that_matches():
    """Every bundled lexicon pattern, on every segment of the labelled calls (and on
    every one of its own literal-bearing matches): where it matches, the prefilter lets
    it through."""
    from qa.matcher import PatternPrefilter
    from qa.transcripts import iter_transcripts

    patterns = _lexicon_patterns()
    assert len(patterns) > 50
    prefilter = PatternPrefilter(patterns)
    texts = [mt(s.text).text for folder in sorted((REPO / "tests" / "data").glob("*/*"))
             for _, t in iter_transcripts(folder) if not isinstance(t, Exception)
             for s in t.segments]
    matched = 0
    for text in texts:
        candidates = prefilter.candidates(text)
        for i, pattern in enumerate(patterns):
            if pattern.search(text):
                matched += 1
                assert i in candidates, (pattern.pattern, text)
    assert matched > 20  # the labelled calls do say forbidden things
    assert len(prefilter.candidates("您好请问有什么可以帮您")) < len(patterns) // 4


def test_anchored_pattern_is_a_candidate_only_where_the_text_starts_with_its_literal():
    """^(对|是) is told by the text's start, not by 是 anywhere in it (就是)."""
    from qa.matcher import PatternPrefilter

    prefilter = PatternPrefilter([re.compile("^(对|是|好了)"), re.compile("说了")])
    assert prefilter.candidates("是的我说了") == {0, 1}
    assert prefilter.candidates("就是这样") == frozenset()
    assert "是" not in prefilter.literals  # nothing for a shared scan to find all through a call


def test_leading_literals_only_for_patterns_anchored_at_the_start():
    from qa.matcher import leading_literals

    assert leading_literals(re.compile("^(请)?您好")) == {"您好", "请您好"}
    assert leading_literals(re.compile("^[一-龥]{2,4}$")) is None
    assert leading_literals(re.compile("(?m)^对")) is None  # ^ after any line break
    assert leading_literals(re.compile("您好")) is None
