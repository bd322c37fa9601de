"""Inputs for batch and store tests: copies of the sample calls under new call ids, written
as real files, and reading a real database with sqlite3 (independently of qa.store)."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

from tests.conftest import REPO

SAMPLES = REPO / "samples" / "transcripts"
ZH_SAMPLES = sorted(SAMPLES.glob("c-*.json"))


def write_calls(folder: Path, count: int, prefix: str = "k") -> list[Path]:
    """`count` transcript JSON files built from the Mandarin samples, call ids
    prefix-0000...; metadata in the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        data = json.loads(ZH_SAMPLES[i % len(ZH_SAMPLES)].read_text(encoding="utf-8"))
        data["call_id"] = f"{prefix}-{i:04d}"
        data.setdefault("call", {}).update(agent_id=f"A{i % 7:03d}", team=f"team-{i % 3}",
                                           queue="credit-card",
                                           started_at=f"2026-11-{1 + i % 28:02d}T10:00:00+08:00")
        path = folder / f"{prefix}-{i:04d}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def write_manifest(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def query(db: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def scalar(db: Path, sql: str, params=()):
    return query(db, sql, params)[0][0]


RESULT_TABLES = ("calls", "transcripts", "segments", "scores", "item_scores", "findings",
                 "predictions")


def content_digest(db: Path) -> str:
    """A hash of every row of the result tables (what a second run must not change)."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(db)
    try:
        for table in RESULT_TABLES:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()
