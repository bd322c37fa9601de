"""Transcript JSON: validation (qa.model.transcript_from_dict, qa.transcripts.read_transcript),
normalisation of the stored text, and the round trip back to JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import InputError, TranscriptError
from qa.model import Segment, Transcript, transcript_from_dict, transcript_to_dict
from qa.transcripts import iter_transcripts, read_transcript, write_transcript


def seg(start=0.0, end=1.0, speaker="agent", text="您好", **extra) -> dict:
    return {"start": start, "end": end, "speaker": speaker, "text": text, **extra}


def doc(*segments, call_id="c-1", **top) -> dict:
    return {"call_id": call_id, "segments": list(segments) or [seg()], **top}


def write_json(tmp_path: Path, data, name: str = "call.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def read_error(path: Path) -> TranscriptError:
    with pytest.raises(TranscriptError) as info:
        read_transcript(path)
    return info.value


def assert_names(err: TranscriptError, path: Path, field: str) -> None:
    """The error names the file and the field, both as attributes and in its message."""
    assert err.source == str(path)
    assert err.field == field
    assert str(err).startswith(f"{path}:{field}: ")


# --- file-level problems -------------------------------------------------------------------

def test_malformed_json_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"call_id": "c1",\n "segments": [}\n', encoding="utf-8")
    err = read_error(path)
    assert_names(err, path, "line 2 column 15")
    assert "malformed JSON" in str(err)


def test_empty_file_is_reported_as_empty(tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    err = read_error(path)
    assert err.source == str(path)
    assert str(err) == f"{path}: empty file"


def test_whitespace_only_file_is_reported_as_empty(tmp_path):
    path = tmp_path / "blank.json"
    path.write_bytes(b"  \n\t\n")
    assert str(read_error(path)) == f"{path}: empty file"


def test_non_utf8_file_is_reported_with_the_offending_byte(tmp_path):
    path = tmp_path / "gbk.json"
    text = json.dumps(doc(seg(text="招商银行")), ensure_ascii=False)
    path.write_bytes(text.encode("gbk"))
    first_bad = text.index("招")  # everything before it is ASCII, so chars == bytes
    err = read_error(path)
    assert err.source == str(path)
    assert str(err) == f"{path}: not UTF-8 text (byte {first_bad})"


def test_utf8_file_with_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc(seg(text="你好"))).encode("utf-8"))
    assert read_transcript(path).segments[0].text == "你好"


def test_missing_file_is_reported_by_name(tmp_path):
    path = tmp_path / "nope.json"
    assert str(read_error(path)) == f"{path}: no such file"


def test_json_that_is_not_an_object_is_rejected(tmp_path):
    path = write_json(tmp_path, [seg()])
    err = read_error(path)
    assert err.source == str(path)
    assert "must be a JSON object" in str(err)


# --- top-level fields -----------------------------------------------------------------------

def test_missing_call_id_is_reported_on_call_id(tmp_path):
    data = doc()
    del data["call_id"]
    err = read_error(write_json(tmp_path, data))
    assert_names(err, tmp_path / "call.json", "call_id")
    assert err.reason == "missing"


def test_blank_call_id_counts_as_missing(tmp_path):
    err = read_error(write_json(tmp_path, doc(call_id="   ")))
    assert_names(err, tmp_path / "call.json", "call_id")
    assert err.reason == "missing"


def test_numeric_call_id_is_read_as_a_string():
    assert transcript_from_dict(doc(call_id=20240101)).call_id == "20240101"


def test_missing_segments_is_reported_on_segments(tmp_path):
    err = read_error(write_json(tmp_path, {"call_id": "c-1"}))
    assert_names(err, tmp_path / "call.json", "segments")
    assert err.reason == "missing"


def test_empty_segments_list_is_reported_as_an_empty_call(tmp_path):
    err = read_error(write_json(tmp_path, {"call_id": "c-1", "segments": []}))
    assert_names(err, tmp_path / "call.json", "segments")
    assert "empty call" in err.reason


def test_segments_that_are_not_a_list_are_rejected(tmp_path):
    err = read_error(write_json(tmp_path, {"call_id": "c-1", "segments": {"0": seg()}}))
    assert_names(err, tmp_path / "call.json", "segments")


# --- segment fields -------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["start", "end", "speaker", "text"])
def test_segment_missing_a_required_field_is_reported_with_its_index(tmp_path, missing):
    bad = seg(start=2, end=3)
    del bad[missing]
    err = read_error(write_json(tmp_path, doc(seg(), bad)))
    assert_names(err, tmp_path / "call.json", f"segments[1].{missing}")
    assert err.reason == "missing"


def test_segment_starting_after_it_ends_is_rejected(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(start=5.0, end=4.0))))
    assert_names(err, tmp_path / "call.json", "segments[0].start")
    assert "after end" in err.reason


def test_segment_of_zero_length_is_allowed():
    assert transcript_from_dict(doc(seg(start=2.0, end=2.0))).segments[0].duration == 0.0


def test_negative_time_is_rejected(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(start=-0.5, end=1.0))))
    assert_names(err, tmp_path / "call.json", "segments[0].start")
    assert "negative" in err.reason


def test_segment_starts_going_backwards_are_rejected(tmp_path):
    data = doc(seg(0.0, 1.0), seg(5.0, 6.0), seg(4.0, 7.0))
    err = read_error(write_json(tmp_path, data))
    assert_names(err, tmp_path / "call.json", "segments[2].start")
    assert "backwards" in err.reason


def test_unknown_speaker_is_rejected_naming_the_allowed_ones(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(speaker="robot"))))
    assert_names(err, tmp_path / "call.json", "segments[0].speaker")
    assert "'robot'" in err.reason
    assert "agent, customer, unknown" in err.reason


def test_whitespace_only_text_is_rejected_as_empty(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(text=" \u3000 "))))
    assert_names(err, tmp_path / "call.json", "segments[0].text")
    assert err.reason == "empty text"


def test_time_given_as_a_string_is_rejected(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(start="1.5", end=2.0))))
    assert_names(err, tmp_path / "call.json", "segments[0].start")
    assert "must be a number" in err.reason


def test_time_given_as_a_boolean_is_rejected(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(start=0.0, end=True))))
    assert_names(err, tmp_path / "call.json", "segments[0].end")


def test_not_a_number_time_is_rejected(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('{"call_id": "c", "segments": '
                    '[{"start": NaN, "end": 1, "speaker": "agent", "text": "hi"}]}',
                    encoding="utf-8")
    err = read_error(path)
    assert_names(err, path, "segments[0].start")
    assert "finite" in err.reason


def test_word_without_text_is_rejected(tmp_path):
    err = read_error(write_json(tmp_path, doc(seg(words=[{"start": 0, "end": 1}]))))
    assert_names(err, tmp_path / "call.json", "segments[0].words[0]")


def test_non_numeric_word_probability_is_a_transcript_error(tmp_path):
    data = doc(seg(words=[{"start": 0, "end": 0.5, "word": "您好", "probability": "high"}]))
    err = read_error(write_json(tmp_path, data))
    assert_names(err, tmp_path / "call.json", "segments[0].words[0].probability")


def test_transcript_error_is_an_input_error_carrying_source_and_field():
    with pytest.raises(InputError) as info:
        transcript_from_dict(doc(seg(speaker="bot")), source="<mem>")
    assert (info.value.source, info.value.field) == ("<mem>", "segments[0].speaker")


def test_one_bad_file_does_not_stop_reading_a_folder(tmp_path):
    write_json(tmp_path, doc(call_id="good"), name="a.json")
    write_json(tmp_path, doc(seg(speaker="bot")), name="b.json")
    results = list(iter_transcripts(tmp_path))
    assert [p.name for p, _ in results] == ["a.json", "b.json"]
    assert isinstance(results[0][1], Transcript) and results[0][1].call_id == "good"
    assert isinstance(results[1][1], TranscriptError)
    assert results[1][1].field == "segments[0].speaker"


# --- normalisation of what is stored ------------------------------------------------------

def test_traditional_text_is_stored_simplified_and_raw_text_keeps_original():
    t = transcript_from_dict(doc(seg(text="您好，招商銀行，請稍等")))
    s = t.segments[0]
    assert "招商银行" in s.text and "请稍等" in s.text
    assert s.raw_text == "您好，招商銀行，請稍等"


def test_full_width_letters_and_digits_are_folded():
    s = transcript_from_dict(doc(seg(text="卡号ＡＢＣ１２３"))).segments[0]
    assert s.text == "卡号ABC123"
    assert s.raw_text == "卡号ＡＢＣ１２３"


def test_raw_text_given_in_the_file_is_kept():
    s = transcript_from_dict(doc(seg(text="请稍等", raw_text="请 稍等 嗯"))).segments[0]
    assert (s.text, s.raw_text) == ("请稍等", "请 稍等 嗯")


def test_segments_read_alike_whether_plain_or_checked_field_by_field():
    plain = seg(0, 1.5, "agent", "您好，請稍等", note="kept")
    unusual = seg(0, 1.5, "Agent", "您好，請稍等", note="kept", confidence=0.9,
                  words=[{"start": 0, "end": 0.5, "word": "您好"}])
    a, b = (transcript_from_dict(doc(s)).segments[0] for s in (plain, unusual))
    assert a == Segment(0.0, 1.5, "agent", "您好,请稍等", "您好，請稍等", extra={"note": "kept"})
    assert (a.start, a.end, a.speaker, a.text, a.raw_text, a.extra) == \
        (b.start, b.end, b.speaker, b.text, b.raw_text, b.extra)
    assert (b.confidence, b.words[0].word) == (0.9, "您好")
    with pytest.raises(AttributeError):
        a.text = "changed"  # still a frozen record


def test_line_breaks_inside_a_segment_do_not_split_it_from_its_neighbours():
    t = transcript_from_dict(doc(seg(0, 1, text="您好\n請稍等"), seg(1, 2, text="好的"),
                                 seg(2, 3, text="  \n再見 ")))
    assert [s.text for s in t.segments] == ["您好 请稍等", "好的", "再见"]


def test_speaker_is_case_insensitive_and_stored_lower_case():
    t = transcript_from_dict(doc(seg(0, 1, "Agent"), seg(1, 2, " CUSTOMER ")))
    assert [s.speaker for s in t.segments] == ["agent", "customer"]


def test_language_is_detected_as_zh_when_absent():
    assert transcript_from_dict(doc(seg(text="您好，请问有什么可以帮您"))).language == "zh"


def test_language_is_detected_as_en_when_absent():
    t = transcript_from_dict(doc(seg(text="Thank you for calling, how can I help?")))
    assert t.language == "en"


def test_language_auto_is_detected():
    assert transcript_from_dict(doc(seg(text="Good morning"), language="auto")).language == "en"


def test_given_language_is_kept_lower_cased():
    assert transcript_from_dict(doc(seg(text="您好"), language="EN")).language == "en"


def test_language_auto_is_detected_whatever_its_case():
    assert transcript_from_dict(doc(seg(text="Good morning"), language="Auto")).language == "en"


def test_duration_is_the_end_of_the_last_ending_segment():
    t = transcript_from_dict(doc(seg(0, 30.5), seg(10, 20), seg(12, 25)))
    assert t.duration == 30.5


def test_duration_is_the_stated_call_duration_when_longer():
    t = transcript_from_dict(doc(seg(0, 30), call={"duration_s": 95}))
    assert t.duration == 95.0


def test_overlapping_segments_with_the_same_start_are_allowed():
    t = transcript_from_dict(doc(seg(3.0, 6.0, "agent", "好的"), seg(3.0, 4.0, "customer", "嗯")))
    assert [(s.start, s.speaker) for s in t.segments] == [(3.0, "agent"), (3.0, "customer")]


def test_call_fields_are_read_and_numbers_become_strings():
    t = transcript_from_dict(doc(call={"agent_id": 1001, "team": " 信用卡 ", "queue": ""}))
    assert (t.call.agent_id, t.call.team, t.call.queue) == ("1001", "信用卡", None)
    assert t.call.call_id == "c-1"


# --- writing back -------------------------------------------------------------------------

def full_doc() -> dict:
    return {
        "call_id": "c-42",
        "language": "zh",
        "engine": "whisper",
        "schema": 3,
        "notes": {"reviewed": True},
        "call": {"agent_id": "A7", "duration_s": 61.5, "site": "深圳", "tags": ["vip"]},
        "segments": [
            seg(0.0, 2.0, "agent", "您好，招商銀行", confidence=0.93, channel=0,
                words=[{"start": 0.0, "end": 0.5, "word": "您好", "probability": 0.9}]),
            seg(2.5, 4.0, "customer", "我想查账单", emotion="calm"),
        ],
    }


def test_unknown_keys_are_kept_at_top_level_in_call_and_in_segments():
    t = transcript_from_dict(full_doc())
    assert t.extra == {"schema": 3, "notes": {"reviewed": True}}
    assert t.call.extra == {"site": "深圳", "tags": ["vip"]}
    assert t.segments[0].extra == {"channel": 0}
    assert t.segments[1].extra == {"emotion": "calm"}


def test_unknown_keys_are_written_back_by_transcript_to_dict():
    out = transcript_to_dict(transcript_from_dict(full_doc()))
    assert out["schema"] == 3 and out["notes"] == {"reviewed": True}
    assert out["call"]["site"] == "深圳" and out["call"]["tags"] == ["vip"]
    assert out["segments"][0]["channel"] == 0
    assert out["segments"][1]["emotion"] == "calm"


def test_transcript_to_dict_writes_simplified_text_and_the_original_raw_text():
    out = transcript_to_dict(transcript_from_dict(full_doc()))
    assert out["segments"][0]["text"] == "您好,招商银行"
    assert out["segments"][0]["raw_text"] == "您好，招商銀行"
    assert "raw_text" not in out["segments"][1]  # unchanged text is not written twice


def test_write_and_read_back_gives_the_same_transcript_and_keys(tmp_path):
    original = transcript_from_dict(full_doc())
    path = write_transcript(original, tmp_path / "out" / "c-42.json")
    again = read_transcript(path)
    assert again == original
    assert (again.extra, again.call.extra) == (original.extra, original.call.extra)
    assert [s.extra for s in again.segments] == [s.extra for s in original.segments]
    assert transcript_to_dict(again) == transcript_to_dict(original)


def test_write_transcript_writes_readable_utf8_and_leaves_no_temporary_file(tmp_path):
    path = write_transcript(transcript_from_dict(full_doc()), tmp_path / "c.json")
    assert "招商銀行" in path.read_text(encoding="utf-8")  # not \\u escapes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
