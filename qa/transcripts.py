"""Reading and writing transcript JSON files (the I/O side of qa.model)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from qa.errors import TranscriptError
from qa.model import Transcript, transcript_from_dict, transcript_to_dict


def parse_transcript_json(text: str, source: str) -> Transcript:
    """A Transcript from JSON text; raises TranscriptError naming `source` and the field
    (or line and column of malformed JSON)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(source, f"line {exc.lineno} column {exc.colno}",
                              f"malformed JSON: {exc.msg}") from None
    return transcript_from_dict(data, source)


def read_transcript(path: str | Path) -> Transcript:
    """Read and validate one transcript JSON file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TranscriptError(str(path), "", "no such file") from None
    except OSError as exc:
        raise TranscriptError(str(path), "", f"cannot read: {exc.strerror}") from None
    return parse_transcript_json(decode_transcript_bytes(raw, str(path)), str(path))


def decode_transcript_bytes(body: bytes, source: str) -> str:
    """The text of a transcript file's bytes; raises TranscriptError for an empty file or
    bytes that are not UTF-8."""
    if not body.strip():
        raise TranscriptError(source, "", "empty file")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(source, "", f"not UTF-8 text (byte {exc.start})") from None


def transcript_files(path: str | Path) -> list[Path]:
    """The transcript files a path names: the file itself, or every *.json below a
    folder, sorted."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    if not path.exists():
        raise TranscriptError(str(path), "", "no such file or folder")
    return [path]


def iter_transcripts(path: str | Path) -> Iterator[tuple[Path, Transcript | TranscriptError]]:
    """Each file under `path` with its transcript, or the error that file gave (so one bad
    file does not stop the others)."""
    for file in transcript_files(path):
        try:
            yield file, read_transcript(file)
        except TranscriptError as exc:
            yield file, exc


def write_transcript(transcript: Transcript, path: str | Path) -> Path:
    """Write a transcript atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(transcript_to_dict(transcript), ensure_ascii=False, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dialogue_transcripts(path: str | Path, language: str = "zh") -> Iterator[Transcript]:
    """Role-tagged text dialogues (JSON lines of {"id", "turns": [{"role", "text"}]}, the
    layout of ../shared/data/dialogues) as transcripts: one segment a non-empty agent or
    customer turn, one second apart (the texts carry no times). A file or a folder of
    *.jsonl files; dialogues without an agent turn are skipped."""
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            dialogue = json.loads(line)
            rows = [t for t in dialogue["turns"] if t.get("text", "").strip()
                    and t.get("role") in ("agent", "customer")]
            if not any(t["role"] == "agent" for t in rows):
                continue
            segments = [{"start": float(i), "end": i + 0.9, "speaker": t["role"], "text": t["text"]}
                        for i, t in enumerate(rows)]
            yield transcript_from_dict({"call_id": str(dialogue.get("id", f"{file.stem}:{number}")),
                                        "language": language, "segments": segments},
                                       f"{file}:{number}")
