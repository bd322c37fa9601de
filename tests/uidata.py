"""A real results database for the UI tests, built once by the real `qa batch` command over
the bundled Mandarin samples (with their manifest metadata) plus two calls that name a
recording: one that exists (a short WAV) and one that has moved. Each test gets a copy."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

from tests.batchdata import SAMPLES, write_manifest
from tests.conftest import REPO, run_qa

APP = str(REPO / "app.py")


def write_wav(path: Path, seconds: float = 2.0) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return path


def build_database(folder: Path) -> Path:
    """qa batch over the zh samples (manifest) and two audio-linked copies of c-0002."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with (SAMPLES.parent / "manifest.csv").open(encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(header, line.strip().split(",")))
            if row["call_id"].startswith("c-"):
                row["path"] = str(SAMPLES.parent / row["path"])
                rows.append(row)
    manifest = write_manifest(folder / "manifest.csv", rows)
    extra = folder / "extra"
    extra.mkdir()
    wav = write_wav(folder / "au-0001.wav", seconds=60.0)
    for call_id, audio in (("au-0001", str(wav)), ("au-0002", str(folder / "moved.wav"))):
        data = json.loads((SAMPLES / "c-0002.json").read_text(encoding="utf-8"))
        data["call_id"] = call_id
        data["call"].update(audio_path=audio, agent_id="A023", agent_name="李强",
                            started_at="2026-11-23T22:40:00+08:00")
        (extra / f"{call_id}.json").write_text(json.dumps(data, ensure_ascii=False),
                                               encoding="utf-8")
    db = folder / "qa.db"
    result = run_qa("batch", str(extra), "--manifest", str(manifest), "--db", str(db),
                    "--rubric", "zh-bank-hotline", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "scored 8, skipped 0, failed 0" in result.stderr, result.stderr
    return db


def copy_database(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return target
