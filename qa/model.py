"""Core types of a scored call, and the transcript JSON interchange format.

Plain dataclasses, no I/O: `transcript_from_dict` validates an already-parsed JSON object
and `transcript_to_dict` gives it back, keeping keys the format does not know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from qa.errors import TranscriptError
from qa.text import detect_language, to_display_many

Speaker = Literal["agent", "customer", "unknown"]
SPEAKERS: tuple[str, ...] = ("agent", "customer", "unknown")
ItemStatus = Literal["pass", "fail", "na", "critical"]

CALL_FIELDS = (
    "agent_id", "agent_name", "team", "queue", "started_at", "duration_s", "direction",
    "customer_tier", "organisation", "audio_path", "audio_sha256",
)
SEGMENT_FIELDS = ("start", "end", "speaker", "text", "raw_text", "confidence", "words")
_SEGMENT_KEYS = frozenset(SEGMENT_FIELDS)
TRANSCRIPT_FIELDS = ("call_id", "language", "engine", "model", "call", "segments")


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    speaker: Speaker
    text: str
    raw_text: str
    confidence: float | None = None
    words: tuple[Word, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Call:
    call_id: str
    audio_path: str | None = None
    audio_sha256: str | None = None
    started_at: str | None = None
    duration_s: float | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    team: str | None = None
    queue: str | None = None
    direction: str | None = None
    customer_tier: str | None = None
    organisation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Transcript:
    call_id: str
    language: str
    segments: tuple[Segment, ...]
    call: Call
    engine: str | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def duration(self) -> float:
        """Seconds from the call's start to the end of the last segment (or the call's
        stated duration when that is longer)."""
        last_end = max(s.end for s in self.segments)
        return max(last_end, self.call.duration_s or 0.0)


@dataclass(frozen=True)
class Finding:
    """One observation a check made. `passed` is None when the check found the item not
    applicable (e.g. no hold in the call)."""

    item_id: str
    check: str
    passed: bool | None
    speaker: str | None = None
    start: float | None = None
    end: float | None = None
    evidence: str = ""
    detail: str = ""
    segment_index: int | None = None
    char_start: int | None = None
    char_end: int | None = None
    deduction: float = 0.0
    critical: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "passed": self.passed, "speaker": self.speaker,
            "start": self.start, "end": self.end, "evidence": self.evidence,
            "detail": self.detail, "segment": self.segment_index,
            "char_start": self.char_start, "char_end": self.char_end,
        }


@dataclass(frozen=True)
class ItemScore:
    item_id: str
    name: str
    section_id: str
    status: ItemStatus
    points: float
    max: float
    critical: bool
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class SectionScore:
    section_id: str
    name: str
    points: float
    max: float


@dataclass(frozen=True)
class FlagResult:
    flag_id: str
    name: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Scorecard:
    call_id: str
    rubric_id: str
    rubric_version: str
    items: tuple[ItemScore, ...]
    sections: tuple[SectionScore, ...]
    total: float
    calculated_total: float
    max_total: float
    percent: float
    stars: int
    passed: bool
    critical_failed: bool
    flags: tuple[FlagResult, ...] = ()


def _fail(source: str, field_name: str, reason: str) -> TranscriptError:
    return TranscriptError(source, field_name, reason)


def _number(value: Any, source: str, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, field_name, f"must be a number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise _fail(source, field_name, f"must be a finite number, got {value!r}")
    if value < 0:
        raise _fail(source, field_name, f"must not be negative, got {value}")
    return float(value)


def _probability(value: Any, source: str, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(source, field_name, f"must be a number from 0 to 1, got {value!r}")
    if not 0 <= value <= 1:
        raise _fail(source, field_name, f"must be from 0 to 1, got {value}")
    return float(value)


def _optional_str(value: Any, source: str, field_name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _fail(source, field_name, f"must be a string, got {type(value).__name__}")
    return value.strip() or None


def _words_from(raw: Any, source: str, where: str) -> tuple[Word, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(source, where, "must be a list of words")
    words = []
    for j, w in enumerate(raw):
        if not isinstance(w, dict) or "word" not in w:
            raise _fail(source, f"{where}[{j}]", "must be an object with start, end, word")
        start = _number(w.get("start", 0.0), source, f"{where}[{j}].start")
        end = _number(w.get("end", start), source, f"{where}[{j}].end")
        prob = w.get("probability")
        if prob is not None:
            prob = _probability(prob, source, f"{where}[{j}].probability")
        words.append(Word(start, end, str(w["word"]), prob))
    return tuple(words)


_SECONDS_TYPES = (float, int)  # exactly these (a bool is an int, but not seconds)


def _is_plain_segment(raw: Any) -> bool:
    """A segment in the usual shape (times as finite non-negative numbers, a known speaker
    in lower case, text, maybe raw_text): valid as it is, without the field-by-field
    checks of `_checked_segment` that build the name of the field at fault."""
    if type(raw) is not dict:
        return False
    start, end, text, raw_text = raw.get("start"), raw.get("end"), raw.get("text"), raw.get("raw_text")
    return (type(start) in _SECONDS_TYPES and type(end) in _SECONDS_TYPES
            and 0 <= start <= end < math.inf
            and raw.get("speaker") in SPEAKERS and type(text) is str and bool(text.strip())
            and (raw_text is None or type(raw_text) is str)
            and raw.get("confidence") is None and raw.get("words") is None)


def _segment_extra(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.keys() <= _SEGMENT_KEYS:
        return {}
    return {k: v for k, v in raw.items() if k not in _SEGMENT_KEYS}


def _segment_fields(raw: Any, index: int, source: str) -> dict[str, Any]:
    """The validated fields of one segment, `text` as given (a call's texts are put in
    display form together, see transcript_from_dict)."""
    if not _is_plain_segment(raw):
        return _checked_segment(raw, index, source)
    text, raw_text = raw["text"], raw.get("raw_text")
    return {"start": float(raw["start"]), "end": float(raw["end"]), "speaker": raw["speaker"],
            "text": text, "raw_text": raw_text if raw_text is not None else text,
            "confidence": None, "words": (), "extra": _segment_extra(raw)}


def _validated_segment(fields: dict[str, Any]) -> Segment:
    """A Segment of validated values for all its fields, set at once: the frozen
    dataclass's __init__ sets them one by one through object.__setattr__, which took a
    third of the time to read a transcript."""
    segment = object.__new__(Segment)
    segment.__dict__.update(fields)
    return segment


def _checked_segment(raw: Any, index: int, source: str) -> dict[str, Any]:
    where = f"segments[{index}]"
    if not isinstance(raw, dict):
        raise _fail(source, where, "must be an object")
    for required in ("start", "end", "speaker", "text"):
        if required not in raw:
            raise _fail(source, f"{where}.{required}", "missing")
    start = _number(raw["start"], source, f"{where}.start")
    end = _number(raw["end"], source, f"{where}.end")
    if start > end:
        raise _fail(source, f"{where}.start", f"start {start} is after end {end}")
    speaker = raw["speaker"]
    if not isinstance(speaker, str) or speaker.strip().lower() not in SPEAKERS:
        raise _fail(source, f"{where}.speaker",
                    f"unknown speaker {speaker!r} (expected one of {', '.join(SPEAKERS)})")
    text = raw["text"]
    if not isinstance(text, str) or not text.strip():
        raise _fail(source, f"{where}.text", "empty text")
    raw_text = raw.get("raw_text")
    if raw_text is not None and not isinstance(raw_text, str):
        raise _fail(source, f"{where}.raw_text", "must be a string")
    confidence = raw.get("confidence")
    if confidence is not None:
        confidence = _probability(confidence, source, f"{where}.confidence")
    return {"start": start, "end": end, "speaker": speaker.strip().lower(), "text": text,
            "raw_text": raw_text if raw_text is not None else text, "confidence": confidence,
            "words": _words_from(raw.get("words"), source, f"{where}.words"),
            "extra": _segment_extra(raw)}


def _call_from(raw: Any, call_id: str, source: str) -> Call:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(source, "call", "must be an object")
    values = {name: _optional_str(raw.get(name), source, f"call.{name}")
              for name in CALL_FIELDS if name != "duration_s"}
    duration = raw.get("duration_s")
    return Call(
        call_id=call_id,
        duration_s=_number(duration, source, "call.duration_s") if duration is not None else None,
        extra={k: v for k, v in raw.items() if k not in CALL_FIELDS and k != "call_id"},
        **values,
    )


def transcript_from_dict(data: Any, source: str = "<transcript>") -> Transcript:
    """Validate a parsed transcript JSON object and return a `Transcript`.

    Text is stored Simplified and NFKC-folded in `text`; the given text stays in `raw_text`.
    Raises TranscriptError naming `source` and the field at fault.
    """
    if not isinstance(data, dict):
        raise _fail(source, "", "a transcript must be a JSON object")
    call_id = data.get("call_id")
    if call_id is None or (isinstance(call_id, str) and not call_id.strip()):
        raise _fail(source, "call_id", "missing")
    call_id = _optional_str(call_id, source, "call_id")
    raw_segments = data.get("segments")
    if raw_segments is None:
        raise _fail(source, "segments", "missing")
    if not isinstance(raw_segments, list):
        raise _fail(source, "segments", "must be a list")
    if not raw_segments:
        raise _fail(source, "segments", "empty call: no segments")
    fields: list[dict[str, Any]] = []
    for i, raw in enumerate(raw_segments):
        segment = _segment_fields(raw, i, source)
        if fields and segment["start"] < fields[-1]["start"]:
            raise _fail(source, f"segments[{i}].start",
                        f"times go backwards: {segment['start']} after a segment starting at "
                        f"{fields[-1]['start']}")
        fields.append(segment)
    displays = to_display_many([segment["text"] for segment in fields])
    for segment, display in zip(fields, displays):
        segment["text"] = display
    segments = [_validated_segment(f) for f in fields]
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise _fail(source, "language", "must be a string such as zh or en")
    language = (language or "").strip().lower()
    if not language or language == "auto":
        language = detect_language(" ".join(s.text for s in segments))
    return Transcript(
        call_id=call_id,  # type: ignore[arg-type]
        language=language.lower(),
        segments=tuple(segments),
        call=_call_from(data.get("call"), call_id, source),  # type: ignore[arg-type]
        engine=_optional_str(data.get("engine"), source, "engine"),
        model=_optional_str(data.get("model"), source, "model"),
        extra={k: v for k, v in data.items() if k not in TRANSCRIPT_FIELDS},
    )


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def transcript_to_dict(transcript: Transcript) -> dict[str, Any]:
    """The transcript as a JSON-ready object, unknown keys included."""
    call = transcript.call
    call_dict = _drop_none({name: getattr(call, name) for name in CALL_FIELDS})
    call_dict.update(call.extra)
    segments = []
    for s in transcript.segments:
        seg: dict[str, Any] = {"start": s.start, "end": s.end, "speaker": s.speaker,
                               "text": s.text}
        if s.raw_text != s.text:
            seg["raw_text"] = s.raw_text
        if s.confidence is not None:
            seg["confidence"] = s.confidence
        if s.words:
            seg["words"] = [_drop_none({"start": w.start, "end": w.end, "word": w.word,
                                        "probability": w.probability}) for w in s.words]
        seg.update(s.extra)
        segments.append(seg)
    out = _drop_none({"call_id": transcript.call_id, "language": transcript.language,
                      "engine": transcript.engine, "model": transcript.model})
    out["call"] = call_dict
    out["segments"] = segments
    out.update(transcript.extra)
    return out
