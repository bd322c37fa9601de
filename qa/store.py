"""The results database: SQLite through sqlite-utils. Every read and write of the database
goes through the functions here (no SQL elsewhere: the CLI, the batch, the UI and the
reports call these).

Tables (schema version in `schema_version`, upgraded in place by `MIGRATIONS`):
- calls: one row per call (metadata, content hash, where it came from, warnings);
- transcripts: the transcript the call was scored from (zlib JSON, with the voice activity
  of audio calls), so a new rubric version re-scores without transcribing again; it is the
  scoring input, never shown or exported;
- segments: the display transcript, PII masked unless the store keeps originals; with an
  FTS5 index (trigram tokenizer) so Chinese substrings are searchable;
- scores (one per call x rubric version x engine; `is_current` marks the latest per call
  and rubric), item_scores, findings, predictions;
- runs (batch runs with counts), failures (file, stage, reason);
- reviews, coaching_notes, disputes, dispute_decisions, finding_feedback: written by
  people, and reveals (who was shown unmasked text): append-only (triggers refuse UPDATE
  and DELETE), an audit trail.

Idempotency: a score's `work_key` is the hash of the call's content hash, the rubric id,
version and fingerprint (qa.rubrics.rubric_fingerprint: its YAML, lexicons and models)
and the engine id; `done_work_keys` is what the batch skips. So a lexicon edited without
a new version still re-scores, and `rubric_fingerprint` tells such scores apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import sqlite_utils
from sqlite_utils.db import Database

from qa.errors import InputError
from qa.model import Finding, Scorecard, Transcript, transcript_to_dict
from qa.text import redact, to_display

SCHEMA_VERSION = 6
ITEM_STATUSES = ("pass", "fail", "na", "critical")
REVIEW_PURPOSES = ("review", "calibration")
DISPUTE_OUTCOMES = ("accepted", "rejected")
FEEDBACK_VERDICTS = ("false_hit", "correct")
APPEND_ONLY_TABLES = ("reviews", "coaching_notes", "disputes", "dispute_decisions",
                      "finding_feedback")  # made append-only by migration 2
UI_APPEND_ONLY_TABLES = ("assignments",)


class StoreError(InputError):
    """A database that cannot be opened or used: the message names the file."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- schema and migrations -------------------------------------------------------------

def _migration_1(db: Database) -> None:
    """Results of scoring: calls, transcripts, segments (+FTS), scores, runs, failures."""
    db["calls"].create({
        "call_id": str, "content_sha256": str, "source_path": str, "source_kind": str,
        "audio_path": str, "audio_sha256": str, "language": str, "started_at": str,
        "call_date": str, "duration_s": float, "agent_id": str, "agent_name": str,
        "team": str, "queue": str, "direction": str, "customer_tier": str,
        "organisation": str, "extra": str, "engine": str, "model": str, "engine_id": str,
        "segment_count": int, "warnings": str, "run_id": int, "stored_at": str,
    }, pk="call_id", not_null={"content_sha256"})
    db["transcripts"].create({"call_id": str, "content_sha256": str, "engine_id": str,
                              "body": bytes}, pk="call_id")
    db["segments"].create({
        "call_id": str, "idx": int, "start": float, "end": float, "speaker": str,
        "text": str, "raw_text": str, "original_text": str, "confidence": float,
        "words": str,
    }, pk=("call_id", "idx"))
    db["segments"].enable_fts(["text"], tokenize="trigram", create_triggers=True)
    # write_calls indexes new segments in one INSERT ... SELECT per transaction, five times
    # cheaper than a trigger per row; the delete and update triggers stay.
    db.execute("DROP TRIGGER segments_ai")
    db["scores"].create({
        "score_id": int, "call_id": str, "work_key": str, "rubric_id": str,
        "rubric_version": str, "engine_id": str, "content_sha256": str, "total": float,
        "calculated_total": float, "max_total": float, "percent": float, "stars": int,
        "passed": int, "critical_failed": int, "flags": str, "sections": str,
        "is_current": int, "scored_at": str, "run_id": int,
    }, pk="score_id", not_null={"call_id", "rubric_id", "rubric_version"})
    db["scores"].create_index(["work_key"], unique=True)
    db["scores"].create_index(["call_id", "rubric_id", "is_current"])
    db["item_scores"].create({
        "score_id": int, "call_id": str, "item_id": str, "section_id": str, "name": str,
        "status": str, "points": float, "max": float, "critical": int,
    }, pk=("score_id", "item_id"))
    db["findings"].create({
        "finding_id": int, "score_id": int, "call_id": str, "item_id": str, "is_flag": int,
        "check_type": str, "passed": int, "speaker": str, "start": float, "end": float,
        "evidence": str, "detail": str, "segment_index": int, "char_start": int,
        "char_end": int, "deduction": float, "critical": int,
    }, pk="finding_id")
    db["findings"].create_index(["score_id"])
    db["predictions"].create({"score_id": int, "call_id": str, "model": str, "label": str,
                              "probability": float, "scores": str}, pk=("score_id", "model"))
    db["runs"].create({
        "run_id": int, "started_at": str, "finished_at": str, "status": str, "input": str,
        "manifest": str, "rubric_id": str, "rubric_version": str, "executor": str,
        "workers": int, "total": int, "scored": int, "skipped": int, "failed": int,
        "seconds": float, "host": str, "pid": int, "callqa_version": str,
    }, pk="run_id")
    db["failures"].create({"failure_id": int, "run_id": int, "path": str, "call_id": str,
                           "stage": str, "reason": str, "content_sha256": str, "at": str},
                          pk="failure_id")
    db["failures"].create_index(["run_id"])


def _append_only(db: Database, table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} "
                   f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only: add a new "
                   f"row instead'); END")


def _migration_2(db: Database) -> None:
    """Reviews, coaching notes, disputes and false-hit feedback (append-only), and the
    indexes the review queue and the coaching reports query by."""
    db["reviews"].create({
        "review_id": int, "call_id": str, "score_id": int, "rubric_id": str,
        "item_id": str, "reviewer": str, "role": str, "action": str, "status": str,
        "points": float, "reason": str, "purpose": str, "based_on": int, "created_at": str,
    }, pk="review_id", not_null={"call_id", "reviewer", "action", "created_at"})
    db["coaching_notes"].create({
        "note_id": int, "call_id": str, "agent_id": str, "author": str, "category": str,
        "note": str, "suggested_phrase": str, "item_id": str, "segment_index": int,
        "supersedes": int, "created_at": str,
    }, pk="note_id", not_null={"author", "note", "created_at"})
    db["disputes"].create({
        "dispute_id": int, "call_id": str, "score_id": int, "item_id": str,
        "raised_by": str, "role": str, "comment": str, "created_at": str,
    }, pk="dispute_id", not_null={"call_id", "raised_by", "comment", "created_at"})
    db["dispute_decisions"].create({
        "decision_id": int, "dispute_id": int, "decided_by": str, "outcome": str,
        "points": float, "comment": str, "created_at": str,
    }, pk="decision_id", not_null={"dispute_id", "decided_by", "outcome", "created_at"})
    db["finding_feedback"].create({
        "feedback_id": int, "finding_id": int, "call_id": str, "item_id": str,
        "check_type": str, "evidence": str, "verdict": str, "reviewer": str,
        "reason": str, "created_at": str,
    }, pk="feedback_id", not_null={"finding_id", "verdict", "reviewer", "created_at"})
    for table in APPEND_ONLY_TABLES:
        _append_only(db, table)
    for table, columns in (
        ("calls", ["agent_id", "call_date"]), ("calls", ["team", "call_date"]),
        ("calls", ["call_date"]), ("calls", ["queue", "call_date"]), ("calls", ["started_at"]),
        ("calls", ["content_sha256"]),
        ("scores", ["is_current", "rubric_id", "percent"]),
        ("item_scores", ["item_id", "status"]), ("item_scores", ["call_id"]),
        ("findings", ["call_id"]), ("findings", ["item_id", "passed"]),
        ("failures", ["path"]),
        ("reviews", ["call_id", "item_id"]), ("reviews", ["reviewer", "created_at"]),
        ("coaching_notes", ["agent_id", "created_at"]), ("coaching_notes", ["call_id"]),
        ("disputes", ["call_id"]), ("dispute_decisions", ["dispute_id"]),
        ("finding_feedback", ["item_id", "verdict"]), ("finding_feedback", ["finding_id"]),
    ):
        db[table].create_index(columns, if_not_exists=True)


def _migration_3(db: Database) -> None:
    """Users of the reviewer UI (scrypt password hashes, never the password) and review
    assignments (append-only: the latest assignment of a call is the one in force)."""
    db["users"].create({
        "name": str, "role": str, "agent_id": str, "team": str, "password_hash": str,
        "created_by": str, "created_at": str, "updated_at": str,
    }, pk="name", not_null={"role", "password_hash", "created_at"})
    db["assignments"].create({
        "assignment_id": int, "call_id": str, "reviewer": str, "purpose": str,
        "reason": str, "assigned_by": str, "created_at": str,
    }, pk="assignment_id", not_null={"call_id", "reviewer", "assigned_by", "created_at"})
    for table in UI_APPEND_ONLY_TABLES:
        _append_only(db, table)
    for table, columns in (("assignments", ["call_id"]), ("assignments", ["reviewer"]),
                           ("reviews", ["purpose", "call_id"]), ("calls", ["started_at"]),
                           ("predictions", ["call_id"]), ("findings", ["check_type", "passed"])):
        db[table].create_index(columns, if_not_exists=True)


def _migration_4(db: Database) -> None:
    """Reviewers' labels of whole calls for the classifiers (call_reason, complaint_risk,
    ...): append-only, the latest label per call and task is the one in force."""
    db["call_labels"].create({
        "label_id": int, "call_id": str, "task": str, "label": str, "reviewer": str,
        "created_at": str,
    }, pk="label_id", not_null={"call_id", "task", "label", "reviewer", "created_at"})
    _append_only(db, "call_labels")
    db["call_labels"].create_index(["task", "call_id"], if_not_exists=True)


def _migration_5(db: Database) -> None:
    """Who saw a call's unmasked text, and when (customer data shown in the clear leaves a
    trace), and every sign-in attempt (for the lock-out): both append-only."""
    db["reveals"].create({
        "reveal_id": int, "call_id": str, "viewer": str, "role": str, "created_at": str,
    }, pk="reveal_id", not_null={"call_id", "viewer", "created_at"})
    db["sign_ins"].create({"attempt_id": int, "name": str, "ok": int, "created_at": str},
                          pk="attempt_id", not_null={"name", "ok", "created_at"})
    for table in ("reveals", "sign_ins"):
        _append_only(db, table)
    db["reveals"].create_index(["call_id"], if_not_exists=True)
    db["sign_ins"].create_index(["name", "attempt_id"], if_not_exists=True)


def _migration_6(db: Database) -> None:
    """The fingerprint of the rubric's content (YAML, lexicons, models) behind each score
    and run: scores under one version but different rules can be told apart."""
    for table in ("scores", "runs"):
        if "rubric_fingerprint" not in db[table].columns_dict:
            db[table].add_column("rubric_fingerprint", str)


# (version, what it adds, function). Append only: a released migration never changes.
MIGRATIONS: tuple[tuple[int, str, Callable[[Database], None]], ...] = (
    (1, "calls, transcripts, segments with trigram FTS, scores, runs, failures", _migration_1),
    (2, "reviews, coaching notes, disputes, false-hit feedback; query indexes", _migration_2),
    (3, "users of the reviewer UI (hashed passwords), review assignments", _migration_3),
    (4, "reviewers' call labels for training the classifiers", _migration_4),
    (5, "audit of who saw unmasked call text; sign-in attempts", _migration_5),
    (6, "rubric content fingerprint of scores and runs", _migration_6),
)


def schema_version(db: Database) -> int:
    """The database's schema version (0 for an empty database)."""
    if "schema_version" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Upgrade the database in place to `target`, one migration per transaction; returns
    the version reached. Raises StoreError for a database newer than this callqa."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise StoreError(_db_name(db), "", f"database schema version {current} is newer than "
                         f"this callqa supports ({SCHEMA_VERSION}): upgrade callqa")
    for version, description, apply in MIGRATIONS:
        if current < version <= target:
            with db.atomic():
                if version == 1:
                    db["schema_version"].create({"version": int, "description": str,
                                                 "applied_at": str}, pk="version",
                                                if_not_exists=True)
                apply(db)
                db["schema_version"].insert({"version": version, "description": description,
                                             "applied_at": _now()})
            current = version
    return current


def _db_name(db: Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else "<memory>"


def open_store(path: str | Path, *, create: bool = True, upgrade: bool = True) -> Database:
    """The database at `path`, in WAL mode and upgraded to the current schema.

    `create=False` refuses a file that does not exist (for commands that only read).
    Raises StoreError naming the file when it cannot be opened, is not a SQLite database,
    or has a newer schema than this callqa."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(str(path), "", "is a folder, not a database file")
    if not path.exists():
        if not create:
            raise StoreError(str(path), "", "no such database (run `qa batch` to create it)")
        if not path.parent.is_dir():
            raise StoreError(str(path), "", f"folder {path.parent} does not exist")
    try:
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        if db.journal_mode != "wal":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        if upgrade:
            migrate(db)
        elif schema_version(db) > SCHEMA_VERSION:
            migrate(db, 0)  # raises the newer-schema error
    except sqlite3.DatabaseError as exc:
        raise StoreError(str(path), "", f"cannot open the database: {exc}") from None
    return db


def integrity_check(db: Database) -> str:
    """'ok' when SQLite's `PRAGMA integrity_check` passes and the full-text index matches
    the segments; otherwise what is wrong."""
    verdict = "; ".join(r[0] for r in db.execute("PRAGMA integrity_check").fetchall())
    if verdict == "ok" and "segments_fts" in db.table_names():
        try:
            db.execute("INSERT INTO segments_fts(segments_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            verdict = f"segments_fts: {exc}"
    return verdict


# --- hashing ---------------------------------------------------------------------------

def content_hash(data: bytes, metadata: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a call's input (audio or transcript bytes) and the metadata it was
    given (so a corrected manifest row is stored again)."""
    digest = hashlib.sha256(data)
    if metadata:
        digest.update(b"\0")
        digest.update(json.dumps(dict(metadata), sort_keys=True, ensure_ascii=False,
                                 default=str).encode("utf-8"))
    return digest.hexdigest()


def work_key(content_sha256: str, rubric_id: str, rubric_version: str, engine_id: str,
             rubric_fingerprint: str = "") -> str:
    """The idempotency key of scoring one input with one rubric (version and content) and
    engine."""
    parts = (content_sha256, rubric_id, rubric_version, engine_id, rubric_fingerprint)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


# --- rows built in workers (pure: no database access) ----------------------------------

@dataclass(frozen=True)
class StoredCall:
    """One scored call as rows ready to write, built where it was scored (a worker
    process or a Dask worker) so that the writer only inserts."""

    call_id: str
    content_sha256: str
    work_key: str
    source_path: str
    call: dict[str, Any]
    transcript_body: bytes
    segments: list[tuple]
    score: dict[str, Any]
    items: list[tuple]
    findings: list[tuple]
    predictions: list[tuple] = field(default_factory=list)


def _json(value: Any) -> str | None:
    if value is None or value == {} or value == []:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _finding_row(f: Finding, call_id: str, is_flag: bool, display: Sequence[str]) -> tuple:
    evidence = f.evidence or ""
    i, a, b = f.segment_index, f.char_start, f.char_end
    if i is not None and a is not None and b is not None and 0 <= i < len(display):
        # redact() keeps offsets, so the masked slice is the masked evidence
        evidence = display[i][a:b]
    elif evidence:
        evidence = redact(evidence)
    return (call_id, f.item_id, int(is_flag), f.check, _bool(f.passed), f.speaker, f.start,
            f.end, evidence, redact(f.detail) if f.detail else f.detail, f.segment_index,
            f.char_start, f.char_end, f.deduction, int(f.critical))


def build_stored_call(transcript: Transcript, card: Scorecard, *, content_sha256: str,
                      work_key: str, engine_id: str, source_path: str, source_kind: str,
                      voice: Any = None, predictions: Mapping[str, Any] | None = None,
                      warnings: Sequence[str] = (), keep_original: bool = False,
                      rubric_fingerprint: str | None = None) -> StoredCall:
    """The rows of a scored call. Display text and evidence have card, ID and phone
    numbers and spoken secrets masked; with `keep_original` the unmasked text of a masked
    segment is kept in `segments.original_text`."""
    call_id = transcript.call_id
    c = transcript.call
    display, segments = [], []
    for idx, s in enumerate(transcript.segments):
        masked = redact(s.text)
        raw = s.raw_text if s.raw_text != s.text else None
        display.append(masked)
        words = [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                 for w in s.words] if s.words else None
        if masked != s.text and words:  # word timestamps would spell the number out
            words = [{**w, "word": redact(w["word"])} for w in words]
        segments.append((call_id, idx, s.start, s.end, s.speaker, masked,
                         redact(raw) if raw is not None else None,
                         s.text if keep_original and masked != s.text else None,
                         s.confidence, _json(words)))
    call = {
        "call_id": call_id, "content_sha256": content_sha256, "source_path": source_path,
        "source_kind": source_kind, "audio_path": c.audio_path, "audio_sha256": c.audio_sha256,
        "language": transcript.language, "started_at": c.started_at,
        "call_date": c.started_at[:10] if c.started_at else None,
        "duration_s": round(transcript.duration, 2), "agent_id": c.agent_id,
        "agent_name": c.agent_name, "team": c.team, "queue": c.queue, "direction": c.direction,
        "customer_tier": c.customer_tier, "organisation": c.organisation,
        "extra": _json(c.extra), "engine": transcript.engine, "model": transcript.model,
        "engine_id": engine_id, "segment_count": len(segments),
        "warnings": _json(list(warnings)),
    }
    body = {"transcript": transcript_to_dict(transcript)}
    if voice is not None:
        body["voice"] = {"agent": [[i.start, i.end] for i in voice.agent],
                         "customer": [[i.start, i.end] for i in voice.customer],
                         "duration": voice.duration}
    score = {
        "call_id": call_id, "work_key": work_key, "rubric_id": card.rubric_id,
        "rubric_version": card.rubric_version, "rubric_fingerprint": rubric_fingerprint,
        "engine_id": engine_id, "content_sha256": content_sha256, "total": card.total,
        "calculated_total": card.calculated_total, "max_total": card.max_total,
        "percent": card.percent, "stars": card.stars, "passed": int(card.passed),
        "critical_failed": int(card.critical_failed),
        "flags": _json([f.flag_id for f in card.flags]),
        "sections": _json([{"id": s.section_id, "name": s.name, "points": s.points,
                            "max": s.max} for s in card.sections]),
    }
    items = [(call_id, i.item_id, i.section_id, i.name, i.status, i.points, i.max,
              int(i.critical)) for i in card.items]
    findings = [_finding_row(f, call_id, False, display) for i in card.items for f in i.findings]
    findings += [_finding_row(f, call_id, True, display) for fl in card.flags for f in fl.findings]
    preds = [(call_id, name, p.label, p.probability, _json(dict(p.scores)))
             for name, p in sorted((predictions or {}).items())]
    return StoredCall(call_id, content_sha256, work_key, source_path, call,
                      zlib.compress(json.dumps(body, ensure_ascii=False).encode("utf-8"), 6),
                      segments, score, items, findings, preds)


# --- writing results -------------------------------------------------------------------

_SEGMENT_SQL = ("INSERT INTO segments (call_id, idx, start, [end], speaker, text, raw_text, "
                "original_text, confidence, words) VALUES (?,?,?,?,?,?,?,?,?,?)")
_ITEM_SQL = ("INSERT INTO item_scores (score_id, call_id, item_id, section_id, name, status, "
             "points, max, critical) VALUES (?,?,?,?,?,?,?,?,?)")
_FINDING_SQL = ("INSERT INTO findings (score_id, call_id, item_id, is_flag, check_type, passed, "
                "speaker, start, [end], evidence, detail, segment_index, char_start, char_end, "
                "deduction, critical) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
_PREDICTION_SQL = ("INSERT INTO predictions (score_id, call_id, model, label, probability, "
                   "scores) VALUES (?,?,?,?,?,?)")


def _insert(conn: sqlite3.Connection, table: str, row: Mapping[str, Any], verb: str = "INSERT"):
    columns = ", ".join(f"[{k}]" for k in row)
    marks = ", ".join("?" for _ in row)
    return conn.execute(f"{verb} INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))


def _delete_score(conn: sqlite3.Connection, score_id: int) -> None:
    for table in ("findings", "item_scores", "predictions", "scores"):
        conn.execute(f"DELETE FROM {table} WHERE score_id = ?", (score_id,))


def write_calls(db: Database, calls: Iterable[StoredCall], run_id: int | None = None,
                failures: Iterable["FailureRecord"] = ()) -> int:
    """Write scored calls (and the run's failures found with them) in one transaction:
    all or none of them. Returns how many calls were written.

    A call already stored with other content is replaced (its segments and transcript);
    the scores of earlier rubric versions stay as history with `is_current = 0`; a score
    with the same work key (a forced re-run) replaces the old one."""
    conn = db.conn
    written = 0
    stamp = _now()
    with db.atomic():
        segment_rows, item_rows, finding_rows, prediction_rows = [], [], [], []
        for sc in calls:
            old = conn.execute("SELECT content_sha256 FROM calls WHERE call_id = ?",
                               (sc.call_id,)).fetchone()
            if old is not None:
                conn.execute("DELETE FROM segments WHERE call_id = ?", (sc.call_id,))
            _insert(conn, "calls", {**sc.call, "run_id": run_id, "stored_at": stamp},
                    "INSERT OR REPLACE")
            conn.execute("INSERT OR REPLACE INTO transcripts (call_id, content_sha256, "
                         "engine_id, body) VALUES (?,?,?,?)",
                         (sc.call_id, sc.content_sha256, sc.score["engine_id"],
                          sc.transcript_body))
            for (score_id,) in conn.execute("SELECT score_id FROM scores WHERE work_key = ?",
                                            (sc.work_key,)).fetchall():
                _delete_score(conn, score_id)
            conn.execute("UPDATE scores SET is_current = 0 WHERE call_id = ? AND rubric_id = ? "
                         "AND is_current = 1", (sc.call_id, sc.score["rubric_id"]))
            score_id = _insert(conn, "scores", {**sc.score, "is_current": 1,
                                                "scored_at": stamp, "run_id": run_id}).lastrowid
            segment_rows += sc.segments
            item_rows += [(score_id, *row) for row in sc.items]
            finding_rows += [(score_id, *row) for row in sc.findings]
            prediction_rows += [(score_id, *row) for row in sc.predictions]
            written += 1
        last_rowid = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM segments").fetchone()[0]
        conn.executemany(_SEGMENT_SQL, segment_rows)
        conn.execute("INSERT INTO segments_fts (rowid, text) SELECT rowid, text FROM segments "
                     "WHERE rowid > ?", (last_rowid,))
        conn.executemany(_ITEM_SQL, item_rows)
        conn.executemany(_FINDING_SQL, finding_rows)
        conn.executemany(_PREDICTION_SQL, prediction_rows)
        record_failures(db, run_id, failures)
    return written


@dataclass(frozen=True)
class StoredCallIndex:
    content_sha256: str
    source_path: str | None
    engine_id: str | None
    audio_sha256: str | None


def call_index(db: Database) -> dict[str, StoredCallIndex]:
    """Every stored call's content hash, source path, engine and audio hash, by call id."""
    return {r[0]: StoredCallIndex(r[1], r[2], r[3], r[4]) for r in db.execute(
        "SELECT call_id, content_sha256, source_path, engine_id, audio_sha256 FROM calls")}


def done_work_keys(db: Database) -> set[str]:
    """The work keys already scored (what a batch run skips)."""
    return {r[0] for r in db.execute("SELECT work_key FROM scores WHERE work_key IS NOT NULL")}


def rubric_fingerprints_in_force(db: Database, rubric_id: str, rubric_version: str) -> dict[str, int]:
    """{fingerprint: number of calls} of the current scores under one rubric version
    (fingerprint "" for scores written before fingerprints were kept)."""
    return {r[0] or "": r[1] for r in db.execute(
        "SELECT rubric_fingerprint, COUNT(*) FROM scores WHERE is_current = 1 "
        "AND rubric_id = ? AND rubric_version = ? GROUP BY 1", (rubric_id, rubric_version))}


def stored_transcript(db: Database, call_id: str) -> tuple[str, str | None, dict] | None:
    """(content hash, engine id, body) of the transcript a call was scored from, or None.
    `body` has `transcript` (transcript JSON) and, for audio, `voice`."""
    row = db.execute("SELECT content_sha256, engine_id, body FROM transcripts WHERE call_id = ?",
                     (call_id,)).fetchone()
    if row is None:
        return None
    return row[0], row[1], json.loads(zlib.decompress(row[2]).decode("utf-8"))


# --- runs and failures -----------------------------------------------------------------

def start_run(db: Database, **info: Any) -> int:
    """Record a batch run as running; returns its id. Earlier runs from this host whose
    process is gone are marked `killed` (they never finished)."""
    host = os.uname().nodename
    for run_id, pid in db.execute("SELECT run_id, pid FROM runs WHERE status = 'running' "
                                  "AND host = ?", (host,)).fetchall():
        if pid and not _alive(pid):
            db.execute("UPDATE runs SET status = 'killed' WHERE run_id = ?", (run_id,))
    from qa import __version__

    row = {"started_at": _now(), "status": "running", "host": host, "pid": os.getpid(),
           "callqa_version": __version__, **info}
    with db.atomic():
        return _insert(db.conn, "runs", row).lastrowid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finish_run(db: Database, run_id: int, status: str, **counts: Any) -> None:
    """Close a run with its status (completed, interrupted, failed) and counts."""
    assignments = ", ".join(f"[{k}] = ?" for k in ("status", "finished_at", *counts))
    with db.atomic():
        db.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?",
                   (status, _now(), *counts.values(), run_id))


@dataclass(frozen=True)
class FailureRecord:
    path: str
    stage: str
    reason: str
    call_id: str | None = None
    content_sha256: str | None = None


def record_failures(db: Database, run_id: int | None, failures: Iterable[FailureRecord]) -> int:
    """Append failures (file, stage, reason) for a run; returns how many."""
    stamp = _now()
    rows = [(run_id, f.path, f.call_id, f.stage, f.reason, f.content_sha256, stamp)
            for f in failures]
    with db.atomic():
        db.conn.executemany("INSERT INTO failures (run_id, path, call_id, stage, reason, "
                            "content_sha256, at) VALUES (?,?,?,?,?,?,?)", rows)
    return len(rows)


def list_failures(db: Database, run_id: int | None = None) -> list[dict]:
    """Failures of one run (default: the latest run), in the order they were found."""
    if run_id is None:
        row = db.execute("SELECT MAX(run_id) FROM runs").fetchone()
        run_id = row[0] if row else None
    return list(db.query("SELECT * FROM failures WHERE run_id IS ? ORDER BY failure_id",
                         [run_id]))


def list_runs(db: Database, limit: int = 20) -> list[dict]:
    """The latest batch runs, newest first."""
    return list(db.query("SELECT * FROM runs ORDER BY run_id DESC LIMIT ?", [limit]))


# --- reading: calls, scores, search ----------------------------------------------------

@dataclass(frozen=True)
class CallFilter:
    """What the review queue, `qa calls`, exports and reports select by. Dates are the
    call's local date (YYYY-MM-DD, inclusive); scores are percentages of the current score."""

    agent_id: str | None = None
    team: str | None = None
    queue: str | None = None
    rubric_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_percent: float | None = None
    max_percent: float | None = None
    failed_item: str | None = None
    flag: str | None = None
    critical_only: bool = False
    call_ids: tuple[str, ...] | None = None


def _conditions(*pairs: tuple[str, Any], always: Sequence[str] = ()) -> tuple[str, list[Any]]:
    """A WHERE clause from (condition with one ?, value) pairs; pairs whose value is None
    are left out."""
    clauses, params = list(always) or ["1 = 1"], []
    for condition, value in pairs:
        if value is not None:
            clauses.append(condition)
            params.append(value)
    return " AND ".join(clauses), params


def _where(f: CallFilter) -> tuple[str, list[Any]]:
    always = ["s.is_current = 1"]
    if f.critical_only:
        always.append("s.critical_failed = 1")
    sql, params = _conditions(
        ("c.agent_id = ?", f.agent_id), ("c.team = ?", f.team), ("c.queue = ?", f.queue),
        ("s.rubric_id = ?", f.rubric_id), ("c.call_date >= ?", f.date_from or None),
        ("c.call_date <= ?", f.date_to or None), ("s.percent >= ?", f.min_percent),
        ("s.percent <= ?", f.max_percent),
        ("EXISTS (SELECT 1 FROM item_scores i WHERE i.score_id = s.score_id AND i.item_id = ? "
         "AND i.status IN ('fail', 'critical'))", f.failed_item or None),
        ("EXISTS (SELECT 1 FROM json_each(s.flags) WHERE json_each.value = ?)", f.flag or None),
        always=always)
    if f.call_ids is not None:
        sql += f" AND c.call_id IN ({', '.join('?' for _ in f.call_ids)})"
        params.extend(f.call_ids)
    return sql, params


CALL_LIST_COLUMNS = (
    "c.call_id", "c.started_at", "c.call_date", "c.agent_id", "c.agent_name", "c.team",
    "c.queue", "c.direction", "c.customer_tier", "c.language", "c.duration_s",
    "s.score_id", "s.rubric_id", "s.rubric_version", "s.total", "s.max_total", "s.percent",
    "s.stars", "s.passed", "s.critical_failed", "s.flags", "s.scored_at",
)
_ORDERS = {"date": "c.started_at DESC, c.call_id", "score": "s.percent ASC, c.call_id",
           "call_id": "c.call_id", "agent": "c.agent_id, c.started_at DESC"}


def list_calls(db: Database, where: CallFilter = CallFilter(), *, limit: int | None = 100,
               offset: int = 0, order: str = "date") -> list[dict]:
    """Calls with their current score, filtered; `order` is date (newest first), score
    (lowest first), call_id or agent. Raises ValueError for an unknown order."""
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {', '.join(_ORDERS)}, not {order!r}")
    sql, params = _where(where)
    rows = db.query(f"SELECT {', '.join(CALL_LIST_COLUMNS)} FROM calls c JOIN scores s "
                    f"ON s.call_id = c.call_id WHERE {sql} ORDER BY {_ORDERS[order]} "
                    f"LIMIT ? OFFSET ?", [*params, -1 if limit is None else limit, offset])
    out = []
    for row in rows:
        row["flags"] = json.loads(row["flags"]) if row["flags"] else []
        row["passed"], row["critical_failed"] = bool(row["passed"]), bool(row["critical_failed"])
        out.append(row)
    return out


def count_calls(db: Database, where: CallFilter = CallFilter()) -> int:
    """How many calls (with a current score) match the filter."""
    sql, params = _where(where)
    return db.execute(f"SELECT COUNT(*) FROM calls c JOIN scores s ON s.call_id = c.call_id "
                      f"WHERE {sql}", params).fetchone()[0]


def _decode_call(row: dict) -> dict:
    row["extra"] = json.loads(row["extra"]) if row.get("extra") else {}
    row["warnings"] = json.loads(row["warnings"]) if row.get("warnings") else []
    return row


def get_call(db: Database, call_id: str, *, with_original: bool = False) -> dict | None:
    """A call for the call view: metadata, `segments` (masked display text; the unmasked
    text as `original_text` only when asked and stored), and `scores` (current first,
    then history), each with its `items` and their `findings`; None for an unknown id."""
    row = db.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        return None
    names = [d[0] for d in db.execute("SELECT * FROM calls LIMIT 0").description]
    call = _decode_call(dict(zip(names, row)))
    segments = list(db.query("SELECT idx, start, [end], speaker, text, raw_text, "
                             "original_text, confidence, words FROM segments WHERE call_id = ? "
                             "ORDER BY idx", [call_id]))
    for s in segments:
        s["words"] = json.loads(s["words"]) if s["words"] else []
        if s["raw_text"] is None:
            s["raw_text"] = s["text"]
        if not with_original:
            s.pop("original_text")
    call["segments"] = segments
    call["scores"] = [score_detail(db, r["score_id"]) for r in db.query(
        "SELECT score_id FROM scores WHERE call_id = ? ORDER BY is_current DESC, score_id DESC",
        [call_id])]
    return call


def score_detail(db: Database, score_id: int) -> dict:
    """One score with `sections`, `flags` and `items`, each item with its `findings`
    (flag findings under `flag_findings`)."""
    score = next(iter(db.query("SELECT * FROM scores WHERE score_id = ?", [score_id])))
    score["flags"] = json.loads(score["flags"]) if score["flags"] else []
    score["sections"] = json.loads(score["sections"]) if score["sections"] else []
    findings: dict[str, list[dict]] = {}
    flag_findings = []
    for f in db.query("SELECT * FROM findings WHERE score_id = ? ORDER BY finding_id",
                      [score_id]):
        f["passed"] = None if f["passed"] is None else bool(f["passed"])
        (flag_findings if f["is_flag"] else findings.setdefault(f["item_id"], [])).append(f)
    items = []
    for item in db.query("SELECT item_id, section_id, name, status, points, max, critical "
                         "FROM item_scores WHERE score_id = ? ORDER BY rowid", [score_id]):
        item["critical"] = bool(item["critical"])
        item["findings"] = findings.get(item["item_id"], [])
        items.append(item)
    score["items"] = items
    score["flag_findings"] = flag_findings
    score["predictions"] = list(db.query("SELECT model, label, probability FROM predictions "
                                         "WHERE score_id = ?", [score_id]))
    return score


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def search_segments(db: Database, text: str, *, speaker: str | None = None,
                    where: CallFilter | None = None, limit: int = 50) -> list[dict]:
    """Segments whose (masked, Simplified) text contains `text` — a substring, so 临时额度
    finds 我想调一下临时额度 — newest calls first. Uses the trigram index for three
    characters or more. Raises ValueError for an empty query."""
    query = to_display(text).strip()
    if not query:
        raise ValueError("an empty search")
    clauses, params = [], []
    if len(query) >= 3:
        clauses.append("g.rowid IN (SELECT rowid FROM segments_fts WHERE segments_fts MATCH ?)")
        params.append(_fts_phrase(query))
    else:  # the trigram index needs three characters; a short query scans
        clauses.append("instr(lower(g.text), lower(?)) > 0")
        params.append(query)
    if speaker:
        clauses.append("g.speaker = ?")
        params.append(speaker)
    join = "LEFT JOIN scores s ON s.call_id = c.call_id AND s.is_current = 1"
    if where is not None:
        sql, extra = _where(where)
        clauses.append(sql)
        params.extend(extra)
        join = "JOIN scores s ON s.call_id = c.call_id"
    rows = db.query(
        f"SELECT g.call_id, g.idx, g.start, g.[end], g.speaker, g.text, c.started_at, "
        f"c.agent_id, c.agent_name, c.team, s.percent FROM segments g JOIN calls c ON "
        f"c.call_id = g.call_id {join} WHERE {' AND '.join(clauses)} GROUP BY g.rowid "
        f"ORDER BY c.started_at DESC, g.call_id, g.idx LIMIT ?", [*params, limit])
    out = []
    lowered = query.lower()
    for row in rows:
        at = row["text"].lower().find(lowered)
        row["match_start"], row["match_end"] = (at, at + len(query)) if at >= 0 else (None, None)
        out.append(row)
    return out


EXPORT_TABLES = ("calls", "items", "findings")


def export_rows(db: Database, table: str = "calls",
                where: CallFilter = CallFilter()) -> tuple[list[str], Iterator[tuple]]:
    """(columns, rows) for analysts: `calls` one row per call with its current score,
    `items` one row per item score, `findings` one row per finding (masked evidence).
    Raises ValueError for an unknown table."""
    sql, params = _where(where)
    base = "FROM calls c JOIN scores s ON s.call_id = c.call_id"
    if table == "calls":
        select = (f"SELECT {', '.join(CALL_LIST_COLUMNS)}, c.source_path, c.extra "
                  f"{base} WHERE {sql} ORDER BY c.started_at, c.call_id")
    elif table == "items":
        select = ("SELECT c.call_id, c.started_at, c.call_date, c.agent_id, c.agent_name, "
                  "c.team, c.queue, s.rubric_id, s.rubric_version, i.section_id, i.item_id, "
                  "i.name, i.status, i.points, i.max, i.critical "
                  f"{base} JOIN item_scores i ON i.score_id = s.score_id WHERE {sql} "
                  "ORDER BY c.started_at, c.call_id, i.rowid")
    elif table == "findings":
        select = ("SELECT c.call_id, c.started_at, c.agent_id, c.team, s.rubric_id, "
                  "s.rubric_version, f.item_id, f.is_flag, f.check_type, f.passed, f.speaker, "
                  "f.start, f.[end], f.evidence, f.detail, f.segment_index, f.deduction, "
                  f"f.critical {base} JOIN findings f ON f.score_id = s.score_id WHERE {sql} "
                  "ORDER BY c.started_at, c.call_id, f.finding_id")
    else:
        raise ValueError(f"table must be one of {', '.join(EXPORT_TABLES)}, not {table!r}")
    cursor = db.execute(select, params)
    return [d[0] for d in cursor.description], iter(cursor)


def item_pass_rates(db: Database, where: CallFilter = CallFilter(),
                    group_by: str | None = None) -> list[dict]:
    """Per item (and per agent or team when `group_by` is agent_id or team): applicable
    calls, passes, fails, pass rate and points lost, for coaching and the rules page."""
    if group_by not in (None, "agent_id", "team"):
        raise ValueError("group_by must be agent_id, team or None")
    sql, params = _where(where)
    group = f"c.{group_by}, " if group_by else ""
    rows = db.query(
        f"SELECT {group}i.item_id, MIN(i.name) AS name, "
        "SUM(i.status != 'na') AS applicable, SUM(i.status = 'pass') AS passes, "
        "SUM(i.status IN ('fail', 'critical')) AS fails, "
        "SUM(CASE WHEN i.status != 'na' THEN i.max - i.points ELSE 0 END) AS points_lost "
        "FROM calls c JOIN scores s ON s.call_id = c.call_id JOIN item_scores i "
        f"ON i.score_id = s.score_id WHERE {sql} GROUP BY {group}i.item_id "
        f"ORDER BY {group}i.item_id", params)
    out = []
    for row in rows:
        row["pass_rate"] = row["passes"] / row["applicable"] if row["applicable"] else None
        out.append(row)
    return out


# --- written by people: reviews, notes, disputes, feedback (append-only) ----------------

def _current_score(db: Database, call_id: str, rubric_id: str | None = None) -> dict:
    params: list[Any] = [call_id]
    extra = ""
    if rubric_id:
        extra, params = " AND rubric_id = ?", [call_id, rubric_id]
    row = next(iter(db.query("SELECT score_id, rubric_id FROM scores WHERE call_id = ? AND "
                             f"is_current = 1{extra} ORDER BY score_id DESC LIMIT 1", params)),
               None)
    if row is None:
        raise StoreError(call_id, "", "no such scored call")
    return row


def add_review(db: Database, call_id: str, reviewer: str, *, item_id: str | None = None,
               action: str = "confirm", status: str | None = None,
               points: float | None = None, reason: str = "", role: str = "reviewer",
               purpose: str = "review", based_on: int | None = None) -> int:
    """Append a review of a call's current score: `confirm` an item (or the whole call
    when `item_id` is None), or `override` an item's status and/or points (a reason is
    required). `based_on` is the latest review id the reviewer saw, so a concurrent
    edit is visible in the trail. Returns the review id; raises ValueError on a bad
    action, status, purpose or a missing reason, StoreError for an unknown call or item."""
    if action not in ("confirm", "override"):
        raise ValueError(f"action must be confirm or override, not {action!r}")
    if purpose not in REVIEW_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(REVIEW_PURPOSES)}")
    if status is not None and status not in ITEM_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ITEM_STATUSES)}, not {status!r}")
    if action == "override":
        if item_id is None:
            raise ValueError("an override names the item it overrides")
        if status is None and points is None:
            raise ValueError("an override gives a status or points")
        if not reason.strip():
            raise ValueError("an override needs a reason")
    score = _current_score(db, call_id)
    if item_id is not None:
        item = db.execute("SELECT max FROM item_scores WHERE score_id = ? AND item_id = ?",
                          (score["score_id"], item_id)).fetchone()
        if item is None:
            raise StoreError(call_id, item_id, "no such item in the call's score")
        if points is not None and not 0 <= points <= item[0]:
            raise ValueError(f"points must be from 0 to {item[0]:g}")
    row = {"call_id": call_id, "score_id": score["score_id"], "rubric_id": score["rubric_id"],
           "item_id": item_id, "reviewer": reviewer, "role": role, "action": action,
           "status": status, "points": points, "reason": reason.strip(), "purpose": purpose,
           "based_on": based_on, "created_at": _now()}
    with db.atomic():
        return _insert(db.conn, "reviews", row).lastrowid


def reviews_for_call(db: Database, call_id: str, purpose: str | None = None) -> list[dict]:
    """The audit trail of a call's reviews, oldest first."""
    extra = " AND purpose = ?" if purpose else ""
    return list(db.query(f"SELECT * FROM reviews WHERE call_id = ?{extra} ORDER BY review_id",
                         [call_id, purpose] if purpose else [call_id]))


def reviewed_score(db: Database, call_id: str) -> dict:
    """The automatic and the reviewed value of a call's current score: per item the
    automatic status and points, the latest override (purpose `review`) and the final
    status and points; accepted disputes count as overrides. Totals follow the scoring
    rules (N/A leaves the denominator, a critical item zeroes the call)."""
    score = _current_score(db, call_id)
    detail = score_detail(db, score["score_id"])
    latest: dict[str, dict] = {}
    for r in db.query("SELECT * FROM reviews WHERE call_id = ? AND rubric_id = ? AND purpose = "
                      "'review' AND item_id IS NOT NULL ORDER BY review_id",
                      [call_id, score["rubric_id"]]):
        latest[r["item_id"]] = r
    for d in db.query("SELECT d.item_id, x.points, x.decided_by, x.comment, x.created_at FROM "
                      "disputes d JOIN dispute_decisions x ON x.dispute_id = d.dispute_id WHERE "
                      "d.call_id = ? AND x.outcome = 'accepted' AND x.points IS NOT NULL "
                      "ORDER BY x.decision_id", [call_id]):
        latest[d["item_id"]] = {"action": "override", "status": None, "points": d["points"],
                                "reviewer": d["decided_by"], "reason": d["comment"],
                                "created_at": d["created_at"]}
    items, total, max_total, critical = [], 0.0, 0.0, False
    for item in detail["items"]:
        review = latest.get(item["item_id"])
        status, points = item["status"], item["points"]
        if review and review["action"] == "override":
            status = review["status"] or status
            if review["points"] is not None:
                points = review["points"]
                if review["status"] is None:
                    status = "pass" if points >= item["max"] else "fail"
            elif status == "pass":
                points = item["max"]
            elif status in ("fail", "critical"):
                points = 0.0
        items.append({"item_id": item["item_id"], "name": item["name"],
                      "automatic_status": item["status"], "automatic_points": item["points"],
                      "status": status, "points": points, "max": item["max"], "review": review})
        if status != "na":
            total += points
            max_total += item["max"]
        critical = critical or status == "critical"
    final = 0.0 if critical else total
    return {"call_id": call_id, "score_id": score["score_id"], "rubric_id": score["rubric_id"],
            "automatic_total": detail["total"], "automatic_percent": detail["percent"],
            "total": round(final, 2), "max_total": round(max_total, 2),
            "percent": round(100.0 * final / max_total, 1) if max_total else 100.0,
            "critical_failed": critical, "reviewed": bool(latest), "items": items}


def reviewed_labels(db: Database, item_id: str | None = None) -> list[dict]:
    """Reviewer-confirmed item labels, for training and agreement: one row per call and
    item a reviewer confirmed or overrode (purpose `review`, the latest review counts),
    with the automatic status, the reviewed `label` (the override's status, or the
    automatic status when confirmed), the reviewer and the call's language."""
    params: list[Any] = []
    extra = ""
    if item_id is not None:
        extra, params = " AND r.item_id = ?", [item_id]
    rows = db.query(
        "SELECT r.call_id, r.item_id, r.action, r.status AS override_status, r.points, "
        "r.reviewer, r.reason, r.created_at, i.status AS automatic_status, c.language "
        "FROM reviews r JOIN scores s ON s.call_id = r.call_id AND s.rubric_id = r.rubric_id "
        "AND s.is_current = 1 JOIN item_scores i ON i.score_id = s.score_id AND "
        "i.item_id = r.item_id JOIN calls c ON c.call_id = r.call_id WHERE r.purpose = "
        "'review' AND r.item_id IS NOT NULL AND r.review_id = (SELECT MAX(review_id) FROM "
        "reviews q WHERE q.call_id = r.call_id AND q.item_id = r.item_id AND q.purpose = "
        f"'review'){extra} ORDER BY r.call_id, r.item_id", params)
    out = []
    for row in rows:
        row["label"] = (row["override_status"] if row["action"] == "override" and
                        row["override_status"] else row["automatic_status"])
        out.append(row)
    return out


def feedback_segments(db: Database) -> list[dict]:
    """Rule hits reviewers judged, with the (masked) text of the segment each was found
    in: the segment-level labels (`false_hit` or `correct`, the latest verdict counts)
    that a tone or rule model can learn from."""
    return list(db.query(
        "SELECT f.call_id, f.item_id, f.check_type, f.verdict, f.reviewer, n.segment_index, "
        "n.speaker, g.text, c.language FROM finding_feedback f JOIN findings n ON "
        "n.finding_id = f.finding_id LEFT JOIN segments g ON g.call_id = n.call_id AND "
        "g.idx = n.segment_index JOIN calls c ON c.call_id = f.call_id WHERE f.feedback_id = "
        "(SELECT MAX(feedback_id) FROM finding_feedback h WHERE h.finding_id = f.finding_id) "
        "ORDER BY f.call_id, n.segment_index"))


def add_coaching_note(db: Database, call_id: str, author: str, note: str, *,
                      category: str = "", suggested_phrase: str = "",
                      item_id: str | None = None, segment_index: int | None = None,
                      supersedes: int | None = None) -> int:
    """Append a coaching note on a call (for its agent); an edit is a new note that
    `supersedes` the old one. Returns the note id; raises ValueError for an empty note,
    StoreError for an unknown call."""
    if not note.strip():
        raise ValueError("an empty coaching note")
    row = db.execute("SELECT agent_id FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise StoreError(call_id, "", "no such call")
    values = {"call_id": call_id, "agent_id": row[0], "author": author, "category": category,
              "note": note.strip(), "suggested_phrase": suggested_phrase,
              "item_id": item_id, "segment_index": segment_index, "supersedes": supersedes,
              "created_at": _now()}
    with db.atomic():
        return _insert(db.conn, "coaching_notes", values).lastrowid


def coaching_notes(db: Database, *, call_id: str | None = None, agent_id: str | None = None,
                   team: str | None = None, date_from: str | None = None,
                   date_to: str | None = None) -> list[dict]:
    """Coaching notes still in force (not superseded), oldest first, filtered by call,
    agent, team or the call's date."""
    sql, params = _conditions(
        ("n.call_id = ?", call_id), ("n.agent_id = ?", agent_id), ("c.team = ?", team),
        ("c.call_date >= ?", date_from or None), ("c.call_date <= ?", date_to or None),
        always=["n.note_id NOT IN (SELECT supersedes FROM coaching_notes WHERE supersedes "
                "IS NOT NULL)"])
    return list(db.query("SELECT n.*, c.agent_name, c.team, c.call_date FROM coaching_notes n "
                         f"LEFT JOIN calls c ON c.call_id = n.call_id WHERE {sql} "
                         "ORDER BY n.note_id", params))


def record_reveal(db: Database, call_id: str, viewer: str, role: str) -> int:
    """Append that `viewer` was shown the unmasked text of a call; returns the row id."""
    if db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone() is None:
        raise StoreError(call_id, "", "no such call")
    with db.atomic():
        return _insert(db.conn, "reveals", {"call_id": call_id, "viewer": viewer, "role": role,
                                            "created_at": _now()}).lastrowid


def reveals(db: Database, *, call_id: str | None = None) -> list[dict]:
    """Who was shown unmasked text, oldest first (of one call, or of every call)."""
    sql, params = _conditions(("call_id = ?", call_id))
    return list(db.query(f"SELECT * FROM reveals WHERE {sql} ORDER BY reveal_id", params))


def raise_dispute(db: Database, call_id: str, item_id: str, raised_by: str, comment: str,
                  role: str = "agent") -> int:
    """Append a dispute of one item of a call's current score; returns its id."""
    if not comment.strip():
        raise ValueError("a dispute needs a comment")
    score = _current_score(db, call_id)
    with db.atomic():
        return _insert(db.conn, "disputes", {
            "call_id": call_id, "score_id": score["score_id"], "item_id": item_id,
            "raised_by": raised_by, "role": role, "comment": comment.strip(),
            "created_at": _now()}).lastrowid


def decide_dispute(db: Database, dispute_id: int, decided_by: str, outcome: str,
                   comment: str = "", points: float | None = None) -> int:
    """Append a QA lead's decision (accepted or rejected; an accepted dispute may set the
    item's points). Returns the decision id; raises ValueError on a bad outcome or a
    dispute already decided, StoreError for an unknown dispute."""
    if outcome not in DISPUTE_OUTCOMES:
        raise ValueError(f"outcome must be accepted or rejected, not {outcome!r}")
    if db.execute("SELECT 1 FROM disputes WHERE dispute_id = ?", (dispute_id,)).fetchone() is None:
        raise StoreError(str(dispute_id), "", "no such dispute")
    if db.execute("SELECT 1 FROM dispute_decisions WHERE dispute_id = ?",
                  (dispute_id,)).fetchone():
        raise ValueError(f"dispute {dispute_id} is already decided")
    with db.atomic():
        return _insert(db.conn, "dispute_decisions", {
            "dispute_id": dispute_id, "decided_by": decided_by, "outcome": outcome,
            "points": points if outcome == "accepted" else None, "comment": comment,
            "created_at": _now()}).lastrowid


def list_disputes(db: Database, *, call_id: str | None = None, agent_id: str | None = None,
                  open_only: bool = False) -> list[dict]:
    """Disputes with their decision (None while open), oldest first."""
    sql, params = _conditions(("d.call_id = ?", call_id or None),
                              ("c.agent_id = ?", agent_id or None),
                              always=["x.decision_id IS NULL"] if open_only else ())
    return list(db.query(
        "SELECT d.*, c.agent_id, x.outcome, x.decided_by, x.points AS decided_points, "
        "x.comment AS decision_comment, x.created_at AS decided_at FROM disputes d "
        "LEFT JOIN calls c ON c.call_id = d.call_id LEFT JOIN dispute_decisions x ON "
        f"x.dispute_id = d.dispute_id WHERE {sql} ORDER BY d.dispute_id",
        params))


def add_finding_feedback(db: Database, finding_id: int, reviewer: str, verdict: str,
                         reason: str = "") -> int:
    """Append a reviewer's verdict on a rule hit: `false_hit` or `correct` (this is what
    per-rule precision is measured from). Returns the feedback id."""
    if verdict not in FEEDBACK_VERDICTS:
        raise ValueError(f"verdict must be false_hit or correct, not {verdict!r}")
    row = db.execute("SELECT call_id, item_id, check_type, evidence FROM findings WHERE "
                     "finding_id = ?", (finding_id,)).fetchone()
    if row is None:
        raise StoreError(str(finding_id), "", "no such finding")
    with db.atomic():
        return _insert(db.conn, "finding_feedback", {
            "finding_id": finding_id, "call_id": row[0], "item_id": row[1],
            "check_type": row[2], "evidence": row[3], "verdict": verdict,
            "reviewer": reviewer, "reason": reason, "created_at": _now()}).lastrowid


def rule_precision(db: Database, by: str = "item_id") -> list[dict]:
    """Reviewer-measured precision of rule hits per item (or per `evidence`, i.e. lexicon
    phrase): hits reviewed, correct, false hits, precision. A finding's latest verdict counts."""
    if by not in ("item_id", "evidence", "check_type"):
        raise ValueError("by must be item_id, evidence or check_type")
    rows = db.query(
        f"SELECT {by}, COUNT(*) AS reviewed, SUM(verdict = 'correct') AS correct, "
        "SUM(verdict = 'false_hit') AS false_hits FROM finding_feedback f WHERE feedback_id = "
        "(SELECT MAX(feedback_id) FROM finding_feedback g WHERE g.finding_id = f.finding_id) "
        f"GROUP BY {by} ORDER BY {by}")
    out = []
    for row in rows:
        row["precision"] = row["correct"] / row["reviewed"] if row["reviewed"] else None
        out.append(row)
    return out


# --- what the coaching reports read -----------------------------------------------------

_TALK_SQL = """
WITH ordered AS (
  SELECT call_id, start, [end], speaker, text,
         MAX([end]) OVER (PARTITION BY call_id ORDER BY start, idx
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM segments WHERE call_id IN (SELECT c.call_id FROM calls c JOIN scores s
                                  ON s.call_id = c.call_id WHERE {where}))
SELECT call_id,
       MAX(CASE WHEN reach IS NOT NULL AND start > reach THEN start - reach ELSE 0 END)
         AS longest_silence_s,
       SUM(CASE WHEN speaker = 'agent' THEN [end] - start ELSE 0 END) AS agent_seconds,
       SUM(CASE WHEN speaker = 'agent' THEN LENGTH(REPLACE(text, ' ', '')) ELSE 0 END)
         AS agent_characters,
       SUM(CASE WHEN speaker = 'agent' THEN LENGTH(TRIM(text)) - LENGTH(REPLACE(TRIM(text), ' ', '')) + 1
                ELSE 0 END) AS agent_words
FROM ordered GROUP BY call_id
"""


def report_tables(db: Database, date_from: str, date_to: str) -> dict[str, list[dict]]:
    """What a coaching report reads about the calls dated `date_from` to `date_to`
    (inclusive): `calls` (metadata, current score, the reviewed total where a reviewer
    or an accepted dispute changed it, a high complaint-risk prediction, and talk
    measures from the segment times: longest silence, agent speech rate), `items`,
    `notes` (in force) and `disputes` (with their decisions). Segments and findings of
    single calls come from `call_details`."""
    sql, params = _where(CallFilter(date_from=date_from, date_to=date_to))
    calls = list(db.query(
        "SELECT c.call_id, c.started_at, c.call_date, c.agent_id, c.agent_name, c.team, "
        "c.queue, c.organisation, c.language, c.duration_s, c.extra, s.score_id, "
        "s.rubric_id, s.rubric_version, s.total, s.max_total, s.percent, s.stars, s.passed, "
        "s.critical_failed, s.flags FROM calls c JOIN scores s ON s.call_id = c.call_id "
        f"WHERE {sql} ORDER BY c.started_at, c.call_id, s.score_id", params))
    latest: dict[str, dict] = {}
    for row in calls:  # a call scored by two rubrics is reported by its latest score
        latest[row["call_id"]] = row
    calls = list(latest.values())
    talk = {r["call_id"]: r for r in db.query(_TALK_SQL.format(where=sql), params)}
    reviewed = {r["call_id"] for r in db.query(
        "SELECT DISTINCT call_id FROM reviews WHERE purpose = 'review' AND action = 'override' "
        "UNION SELECT d.call_id FROM disputes d JOIN dispute_decisions x ON "
        "x.dispute_id = d.dispute_id WHERE x.outcome = 'accepted'")}
    risky = {r["call_id"] for r in db.query(
        "SELECT call_id FROM predictions WHERE model = 'complaint_risk' AND label = 'high'")}
    for row in calls:
        row["flags"] = json.loads(row["flags"]) if row["flags"] else []
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        row["passed"], row["critical_failed"] = bool(row["passed"]), bool(row["critical_failed"])
        row["reviewed_total"] = (reviewed_score(db, row["call_id"])["total"]
                                 if row["call_id"] in reviewed else None)
        row["complaint_risk_high"] = row["call_id"] in risky
        measures = talk.get(row["call_id"], {})
        seconds = measures.get("agent_seconds") or 0.0
        amount = measures.get("agent_words" if (row["language"] or "").startswith("en")
                              else "agent_characters") or 0
        row["longest_silence_s"] = round(measures.get("longest_silence_s") or 0.0, 1)
        row["speech_rate"] = round(60.0 * amount / seconds, 1) if seconds >= 15 else None
    items = list(db.query(
        "SELECT i.score_id, i.call_id, i.item_id, i.name AS item_name, i.section_id, i.status, "
        "i.points, i.max FROM item_scores i WHERE i.score_id IN (SELECT s.score_id FROM calls c JOIN "
        f"scores s ON s.call_id = c.call_id WHERE {sql}) ORDER BY i.call_id, i.rowid", params))
    wanted = {r["score_id"] for r in calls}
    items = [i for i in items if i.pop("score_id") in wanted]
    notes = [{"call_id": n["call_id"], "agent_id": n["agent_id"], "author": n["author"],
              "created_at": n["created_at"], "category": n["category"], "text": n["note"],
              "suggested_phrase": n["suggested_phrase"]}
             for n in coaching_notes(db, date_from=date_from, date_to=date_to)]
    disputes = [{"call_id": d["call_id"], "agent_id": d["agent_id"], "item_id": d["item_id"],
                 "raised_by": d["raised_by"], "raised_at": d["created_at"],
                 "comment": d["comment"], "outcome": d["outcome"],
                 "decided_by": d["decided_by"], "decided_at": d["decided_at"]}
                for d in list_disputes(db) if d["call_id"] in latest]
    return {"calls": calls, "items": items, "notes": notes, "disputes": disputes}


def call_details(db: Database, call_ids: Sequence[str]) -> dict[str, list[dict]]:
    """Display segments (masked) and item findings of the current scores of `call_ids`,
    for quoting calls in a report."""
    if not call_ids:
        return {"segments": [], "findings": []}
    marks = ", ".join("?" for _ in call_ids)
    segments = list(db.query(
        "SELECT call_id, idx AS segment_index, start, [end], speaker, text FROM segments "
        f"WHERE call_id IN ({marks}) ORDER BY call_id, idx", list(call_ids)))
    findings = list(db.query(
        "SELECT f.call_id, f.item_id, f.passed, f.speaker, f.start, f.[end], f.evidence, "
        "f.detail, f.segment_index FROM findings f JOIN scores s ON s.score_id = f.score_id "
        f"WHERE s.is_current = 1 AND f.is_flag = 0 AND f.call_id IN ({marks}) "
        "ORDER BY f.call_id, f.finding_id", list(call_ids)))
    for f in findings:
        f["passed"] = None if f["passed"] is None else bool(f["passed"])
    return {"segments": segments, "findings": findings}


def has_subject(db: Database, scope: str, subject: str) -> bool:
    """Whether any stored call has this agent id (`scope` agent) or team name (team)."""
    column = {"agent": "agent_id", "team": "team"}[scope]
    return db.execute(f"SELECT 1 FROM calls WHERE {column} = ? LIMIT 1",
                      (subject,)).fetchone() is not None
# --- UI queries ---
# Users, assignments and the reads the reviewer UI (app.py, pages/) needs. Additive: the
# functions above are the batch's and the reports'.

def _user_row(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row[k] for k in ("name", "role", "agent_id", "team", "created_by",
                                "created_at", "updated_at")}


def add_user(db: Database, name: str, role: str, password: str, *,
             agent_id: str | None = None, team: str | None = None,
             created_by: str = "cli", replace: bool = False) -> None:
    """Add a user of the reviewer UI with a scrypt hash of `password` (never the password
    itself). `replace` updates an existing user's role, agent id, team and password.
    Raises ValueError for a bad name, role or password, or an existing user without
    `replace`."""
    from qa.users import check_user, hash_password

    check_user(name, role, agent_id)
    hashed = hash_password(password)
    existing = db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
    if existing and not replace:
        raise ValueError(f"user {name!r} already exists (use --replace to change it)")
    now = _now()
    with db.atomic():
        if existing:
            db.execute("UPDATE users SET role = ?, agent_id = ?, team = ?, password_hash = ?, "
                       "updated_at = ? WHERE name = ?",
                       (role, agent_id, team, hashed, now, name))
        else:
            _insert(db.conn, "users", {"name": name, "role": role, "agent_id": agent_id,
                                       "team": team, "password_hash": hashed,
                                       "created_by": created_by, "created_at": now})


def get_user(db: Database, name: str) -> dict | None:
    """A user (name, role, agent_id, team, ...; never the password hash) or None."""
    return _user_row(next(iter(db.query("SELECT * FROM users WHERE name = ?", [name])), None))


LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15


class SignInLocked(InputError):
    """Too many failed sign-ins for a name: it is refused until the lock-out has passed."""


def _locked_until(db: Database, name: str, now: dt.datetime) -> dt.datetime | None:
    """When the lock-out of `name` ends (LOCKOUT_MINUTES after the last failure), when its
    last LOCKOUT_FAILURES attempts failed within LOCKOUT_MINUTES; None when not locked."""
    recent = [r[0] for r in db.execute(
        "SELECT created_at FROM sign_ins WHERE name = ? AND ok = 0 AND attempt_id > "
        "COALESCE((SELECT MAX(attempt_id) FROM sign_ins WHERE name = ? AND ok = 1), 0) "
        "ORDER BY attempt_id DESC LIMIT ?", (name, name, LOCKOUT_FAILURES))]
    if len(recent) < LOCKOUT_FAILURES:
        return None
    window = dt.timedelta(minutes=LOCKOUT_MINUTES)
    oldest, latest = dt.datetime.fromisoformat(recent[-1]), dt.datetime.fromisoformat(recent[0])
    if latest - oldest > window or now >= latest + window:
        return None
    return latest + window


def authenticate(db: Database, name: str, password: str,
                 now: dt.datetime | None = None) -> dict | None:
    """The user when `password` is theirs, else None (unknown users take as long). Every
    attempt is recorded; after LOCKOUT_FAILURES failures in a row within LOCKOUT_MINUTES a
    name is refused (SignInLocked, even with the right password) until LOCKOUT_MINUTES after
    the last failure. Unknown names are locked the same way, so a lock tells nothing."""
    from qa.users import verify_password

    now = now or dt.datetime.now(dt.timezone.utc)
    until = _locked_until(db, name, now)
    if until is not None:
        raise SignInLocked(name, "", f"too many failed sign-ins: try again after "
                           f"{until.strftime('%H:%M')} UTC")
    row = next(iter(db.query("SELECT * FROM users WHERE name = ?", [name])), None)
    stored = row["password_hash"] if row else (
        "scrypt$16384$8$1$00000000000000000000000000000000$" + "00" * 32)
    ok = verify_password(password, stored) and row is not None
    with db.atomic():
        _insert(db.conn, "sign_ins", {"name": name, "ok": int(ok),
                                      "created_at": now.isoformat(timespec="seconds")})
    return _user_row(row) if ok else None


def list_users(db: Database) -> list[dict]:
    """Every user, by name (no password hashes)."""
    return [_user_row(r) for r in db.query("SELECT * FROM users ORDER BY name")]


def count_users(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM users").fetchone()[0]


def users_with_role(db: Database, *roles: str) -> list[str]:
    """Names of the users with one of `roles`, sorted."""
    marks = ", ".join("?" for _ in roles)
    return [r[0] for r in db.execute(f"SELECT name FROM users WHERE role IN ({marks}) "
                                     "ORDER BY name", roles)]


def assign_calls(db: Database, pairs: Iterable[tuple[str, str]], assigned_by: str, *,
                 purpose: str = "review", reason: str = "") -> int:
    """Append assignments of calls to reviewers ((call_id, reviewer) pairs); a later
    assignment of a call replaces the earlier one in the queue. Returns how many. Raises
    ValueError for a bad purpose, StoreError for an unknown call."""
    if purpose not in REVIEW_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(REVIEW_PURPOSES)}")
    rows, now = [], _now()
    for call_id, reviewer in pairs:
        rows.append((call_id, reviewer, purpose, reason, assigned_by, now))
    with db.atomic():
        known = {r[0] for r in db.execute(
            f"SELECT call_id FROM calls WHERE call_id IN ({', '.join('?' for _ in rows)})",
            [r[0] for r in rows])} if rows else set()
        missing = sorted({r[0] for r in rows} - known)
        if missing:
            raise StoreError(missing[0], "", "no such call to assign")
        db.conn.executemany("INSERT INTO assignments (call_id, reviewer, purpose, reason, "
                            "assigned_by, created_at) VALUES (?,?,?,?,?,?)", rows)
    return len(rows)


REVIEW_STATUSES = ("unreviewed", "reviewed", "disputed", "open dispute")
_ASSIGNED = ("(SELECT a.reviewer FROM assignments a WHERE a.call_id = c.call_id AND "
             "a.purpose = 'review' ORDER BY a.assignment_id DESC LIMIT 1)")
_UNCERTAINTY = ("(SELECT MIN(ABS(p.probability - 0.5)) FROM predictions p "
                "WHERE p.score_id = s.score_id)")
_QUEUE_ORDERS = {**_ORDERS, "uncertain": f"{_UNCERTAINTY} ASC NULLS LAST, c.started_at DESC"}


def _queue_where(where: CallFilter, review_status: str | None,
                 assigned_to: str | None) -> tuple[str, list[Any]]:
    sql, params = _where(where)
    clauses = [sql]
    reviewed = ("EXISTS (SELECT 1 FROM reviews r WHERE r.call_id = c.call_id AND "
                "r.purpose = 'review')")
    if review_status == "unreviewed":
        clauses.append(f"NOT {reviewed}")
    elif review_status == "reviewed":
        clauses.append(reviewed)
    elif review_status == "disputed":
        clauses.append("EXISTS (SELECT 1 FROM disputes d WHERE d.call_id = c.call_id)")
    elif review_status == "open dispute":
        clauses.append("EXISTS (SELECT 1 FROM disputes d WHERE d.call_id = c.call_id AND NOT "
                       "EXISTS (SELECT 1 FROM dispute_decisions x WHERE x.dispute_id = "
                       "d.dispute_id))")
    elif review_status is not None:
        raise ValueError(f"review status must be one of {', '.join(REVIEW_STATUSES)}")
    if assigned_to is not None:
        clauses.append(f"{_ASSIGNED} = ?")
        params = [*params, assigned_to]
    return " AND ".join(clauses), params


def list_queue(db: Database, where: CallFilter = CallFilter(), *,
               review_status: str | None = None, assigned_to: str | None = None,
               order: str = "date", limit: int = 50, offset: int = 0) -> list[dict]:
    """The review queue: `list_calls` rows plus `assigned_to`, `reviews` (how many review
    entries), `open_disputes` and `uncertainty` (how close the least certain model
    prediction is to 0.5; None without predictions). `review_status` is unreviewed,
    reviewed, disputed or open dispute; `order` adds `uncertain` (least certain first) to
    list_calls' orders. Raises ValueError for an unknown status or order."""
    if order not in _QUEUE_ORDERS:
        raise ValueError(f"order must be one of {', '.join(_QUEUE_ORDERS)}, not {order!r}")
    sql, params = _queue_where(where, review_status, assigned_to)
    # Newest first: walk calls by their started_at index and stop after a page, instead
    # of sorting every current score (CROSS JOIN fixes SQLite's loop order).
    join = "CROSS JOIN" if order == "date" else "JOIN"
    rows = db.query(
        f"SELECT {', '.join(CALL_LIST_COLUMNS)}, {_ASSIGNED} AS assigned_to, "
        "(SELECT COUNT(*) FROM reviews r WHERE r.call_id = c.call_id AND r.purpose = "
        "'review') AS reviews, (SELECT COUNT(*) FROM disputes d WHERE d.call_id = c.call_id "
        "AND NOT EXISTS (SELECT 1 FROM dispute_decisions x WHERE x.dispute_id = "
        f"d.dispute_id)) AS open_disputes, {_UNCERTAINTY} AS uncertainty FROM calls c {join} "
        f"scores s ON s.call_id = c.call_id WHERE {sql} ORDER BY {_QUEUE_ORDERS[order]} "
        "LIMIT ? OFFSET ?", [*params, limit, offset])
    return [_decode_flags(row) for row in rows]


def _decode_flags(row: dict) -> dict:
    row["flags"] = json.loads(row["flags"]) if row["flags"] else []
    for key in ("passed", "critical_failed"):
        if key in row:
            row[key] = bool(row[key])
    return row


def count_queue(db: Database, where: CallFilter = CallFilter(), *,
                review_status: str | None = None, assigned_to: str | None = None) -> int:
    """How many calls `list_queue` would list without a limit."""
    sql, params = _queue_where(where, review_status, assigned_to)
    return db.execute(f"SELECT COUNT(*) FROM calls c JOIN scores s ON s.call_id = c.call_id "
                      f"WHERE {sql}", params).fetchone()[0]


def queue_choices(db: Database) -> dict[str, list]:
    """What the queue's filters offer: teams, agents ((id, name)), queues, rubric ids,
    items ((id, name); read from 1,000 current scores), and the first and last call
    date."""
    def column(sql: str) -> list:
        return [r[0] for r in db.execute(sql) if r[0] is not None]

    dates = db.execute("SELECT (SELECT MIN(call_date) FROM calls), "  # two index lookups
                       "(SELECT MAX(call_date) FROM calls)").fetchone()
    return {
        "teams": column("SELECT DISTINCT team FROM calls ORDER BY team"),
        "agents": [(r[0], r[1]) for r in db.execute(  # distinct ids from the index first
            "SELECT a.agent_id, (SELECT agent_name FROM calls n WHERE n.agent_id = a.agent_id "
            "AND n.agent_name IS NOT NULL LIMIT 1) FROM (SELECT DISTINCT agent_id FROM calls "
            "WHERE agent_id IS NOT NULL) a ORDER BY a.agent_id")],
        "queues": column("SELECT DISTINCT queue FROM calls ORDER BY queue"),
        "rubrics": column("SELECT DISTINCT rubric_id FROM scores WHERE is_current = 1 "
                          "ORDER BY rubric_id"),
        "items": [(r[0], r[1]) for r in db.execute(
            "SELECT item_id, MIN(name) FROM item_scores WHERE score_id IN (SELECT score_id "
            "FROM scores WHERE is_current = 1 LIMIT 1000) GROUP BY item_id ORDER BY item_id")],
        "dates": [dates[0], dates[1]] if dates else [None, None],
    }


def sampling_candidates(db: Database, where: CallFilter = CallFilter()) -> list[dict]:
    """Every call the filter selects, for a sampling plan: call_id, agent_id, call_date,
    critical_failed, flags and `risk` (the highest probability of a model whose name or
    label mentions complaint; None without one)."""
    sql, params = _where(where)
    rows = db.query(
        "SELECT c.call_id, c.agent_id, c.call_date, s.critical_failed, s.flags, (SELECT "
        "MAX(p.probability) FROM predictions p WHERE p.score_id = s.score_id AND (p.model "
        "LIKE '%complaint%' OR p.label LIKE '%complaint%')) AS risk FROM calls c JOIN scores "
        f"s ON s.call_id = c.call_id WHERE {sql} ORDER BY c.call_id", params)
    return [_decode_flags(row) for row in rows]


def latest_review_id(db: Database, call_id: str) -> int | None:
    """The newest review id of a call (any purpose), or None: what a reviewer's edit is
    `based_on`."""
    return db.execute("SELECT MAX(review_id) FROM reviews WHERE call_id = ?",
                      (call_id,)).fetchone()[0]


def reviews_after(db: Database, call_id: str, review_id: int | None,
                  purpose: str = "review") -> list[dict]:
    """Reviews of a call newer than `review_id` (all of them for None), oldest first:
    what others saved since a reviewer opened the call."""
    return list(db.query("SELECT * FROM reviews WHERE call_id = ? AND review_id > ? AND "
                         "purpose = ? ORDER BY review_id", [call_id, review_id or 0, purpose]))


def finding_verdicts(db: Database, call_id: str) -> dict[int, dict]:
    """The latest false-hit/correct verdict per finding of a call, by finding id."""
    out: dict[int, dict] = {}
    for row in db.query("SELECT * FROM finding_feedback WHERE call_id = ? ORDER BY "
                        "feedback_id", [call_id]):
        out[row["finding_id"]] = row
    return out


def calibration_calls(db: Database, reviewer: str | None = None) -> list[dict]:
    """Calls assigned for calibration (each once, newest assignment first) with how many
    reviewers were assigned and whether `reviewer` has already scored it."""
    params: list[Any] = []
    done = "0"
    if reviewer is not None:
        done = ("EXISTS (SELECT 1 FROM reviews r WHERE r.call_id = a.call_id AND r.purpose = "
                "'calibration' AND r.reviewer = ?)")
        params.append(reviewer)
    return list(db.query(
        f"SELECT a.call_id, MAX(a.assignment_id) AS assignment_id, COUNT(DISTINCT a.reviewer) "
        f"AS reviewers, GROUP_CONCAT(DISTINCT a.reviewer) AS assigned, {done} AS done, "
        "MIN(c.agent_id) AS agent_id, MIN(c.started_at) AS started_at FROM assignments a "
        "JOIN calls c ON c.call_id = a.call_id WHERE a.purpose = 'calibration' "
        "GROUP BY a.call_id ORDER BY assignment_id DESC", params))


def calibration_ratings(db: Database, call_ids: Sequence[str] | None = None
                        ) -> tuple[list[dict], list[dict]]:
    """(reviewer ratings, automatic ratings) of calibration calls: each a dict with
    call_id, item_id, rater, status, points, max. A reviewer's latest calibration review
    of an item counts; the automatic rating is the call's current score."""
    clause, params = "", []
    if call_ids is not None:
        clause = f" AND r.call_id IN ({', '.join('?' for _ in call_ids)})"
        params = list(call_ids)
    reviewer_rows = list(db.query(
        "SELECT r.call_id, r.item_id, r.reviewer AS rater, COALESCE(r.status, i.status) AS "
        "status, COALESCE(r.points, CASE WHEN r.action = 'confirm' THEN i.points END) AS "
        "points, i.max FROM reviews r JOIN item_scores i ON i.score_id = r.score_id AND "
        "i.item_id = r.item_id WHERE r.purpose = 'calibration' AND r.item_id IS NOT NULL"
        f"{clause} AND r.review_id = (SELECT MAX(review_id) FROM reviews q WHERE q.call_id = "
        "r.call_id AND q.item_id = r.item_id AND q.reviewer = r.reviewer AND q.purpose = "
        "'calibration') ORDER BY r.call_id, r.item_id, r.reviewer", params))
    calls = sorted({r["call_id"] for r in reviewer_rows})
    automatic = list(db.query(
        "SELECT i.call_id, i.item_id, 'automatic' AS rater, i.status, i.points, i.max FROM "
        "item_scores i JOIN scores s ON s.score_id = i.score_id WHERE s.is_current = 1 AND "
        f"i.call_id IN ({', '.join('?' for _ in calls)}) ORDER BY i.call_id, i.item_id",
        calls)) if calls else []
    return reviewer_rows, automatic


def score_trend(db: Database, where: CallFilter = CallFilter(),
                by: str | None = "agent_id") -> list[dict]:
    """Average score per week (`week`: the Monday, YYYY-MM-DD) and per agent or team
    (`by`: agent_id, team or None for everyone): calls, mean percent, critical fails."""
    if by not in (None, "agent_id", "team"):
        raise ValueError("by must be agent_id, team or None")
    sql, params = _where(where)
    group = f"c.{by} AS who, " if by else "'all' AS who, "
    return list(db.query(
        f"SELECT {group}date(c.call_date, 'weekday 0', '-6 days') AS week, COUNT(*) AS calls, "
        "ROUND(AVG(s.percent), 1) AS mean_percent, SUM(s.critical_failed) AS critical_fails "
        f"FROM calls c JOIN scores s ON s.call_id = c.call_id WHERE {sql} AND c.call_date IS "
        "NOT NULL GROUP BY who, week ORDER BY who, week", params))


def failed_item_examples(db: Database, item_id: str, where: CallFilter = CallFilter(),
                         limit: int = 3) -> list[dict]:
    """Calls that lost points on `item_id` (lowest score first): call_id, started_at,
    agent_id, percent, points, max — example calls for coaching."""
    sql, params = _where(where)
    return list(db.query(
        "SELECT c.call_id, c.started_at, c.agent_id, s.percent, i.points, i.max FROM calls c "
        "JOIN scores s ON s.call_id = c.call_id JOIN item_scores i ON i.score_id = s.score_id "
        f"WHERE {sql} AND i.item_id = ? AND i.status IN ('fail', 'critical') "
        "ORDER BY s.percent, c.started_at DESC LIMIT ?", [*params, item_id, limit]))


def shift_exposure(db: Database, shifts: Sequence[tuple[str, int, int]],
                   where: CallFilter = CallFilter(), flag: str = "customer_abuse") -> list[dict]:
    """Per agent and shift: calls and calls with `flag` (customer abuse by default).
    `shifts` are (name, first hour, hour after the last) in the call's local time, e.g.
    ('early', 6, 14); an hour outside every shift counts as 'other'."""
    sql, params = _where(where)
    cases = " ".join("WHEN CAST(substr(c.started_at, 12, 2) AS INTEGER) >= ? AND "
                     "CAST(substr(c.started_at, 12, 2) AS INTEGER) < ? THEN ?" for _ in shifts)
    shift_params = [v for name, start, end in shifts for v in (start, end, name)]
    shift = f"CASE {cases} ELSE 'other' END" if shifts else "'all'"
    return list(db.query(
        f"SELECT c.agent_id, MIN(c.agent_name) AS agent_name, {shift} AS shift, COUNT(*) AS "
        "calls, SUM(EXISTS (SELECT 1 FROM json_each(s.flags) WHERE json_each.value = ?)) AS "
        f"flagged FROM calls c JOIN scores s ON s.call_id = c.call_id WHERE {sql} "
        "GROUP BY c.agent_id, shift ORDER BY flagged DESC, c.agent_id, shift",
        [*shift_params, flag, *params]))


def agent_talk_metrics(db: Database, agent_id: str, limit: int = 200) -> list[dict]:
    """The agent's latest `limit` calls, oldest first: call_id, started_at, duration_s,
    agent_chars and agent_seconds (the agent's segments), longest_gap_s and gap_s (time
    between consecutive segments, i.e. nobody talking)."""
    return list(db.query(
        "WITH recent AS (SELECT call_id, started_at, duration_s FROM calls WHERE agent_id = ? "
        "ORDER BY started_at DESC LIMIT ?), gaps AS (SELECT g.call_id, g.speaker, g.text, "
        "g.start, g.[end], MAX(0, g.start - LAG(g.[end]) OVER (PARTITION BY g.call_id ORDER BY "
        "g.idx)) AS gap FROM segments g WHERE g.call_id IN (SELECT call_id FROM recent)) "
        "SELECT r.call_id, r.started_at, r.duration_s, SUM(CASE WHEN g.speaker = 'agent' THEN "
        "length(g.text) ELSE 0 END) AS agent_chars, ROUND(SUM(CASE WHEN g.speaker = 'agent' "
        "THEN g.[end] - g.start ELSE 0 END), 2) AS agent_seconds, ROUND(COALESCE(MAX(g.gap), 0), "
        "2) AS longest_gap_s, ROUND(COALESCE(SUM(g.gap), 0), 2) AS gap_s FROM recent r LEFT JOIN "
        "gaps g ON g.call_id = r.call_id GROUP BY r.call_id ORDER BY r.started_at, r.call_id",
        [agent_id, limit]))


def rule_hit_rates(db: Database, where: CallFilter = CallFilter(),
                   by: str = "item_id") -> list[dict]:
    """How often each rule fires over the filtered calls: per item (`by` item_id) the
    failed findings and the calls with one; per lexicon phrase (`by` evidence: the
    matched text of forbidden-word hits) the same. `calls` is the number of calls looked
    at, `hit_rate` the share of them with a hit."""
    if by not in ("item_id", "evidence"):
        raise ValueError("by must be item_id or evidence")
    sql, params = _where(where)
    total = db.execute(f"SELECT COUNT(*) FROM calls c JOIN scores s ON s.call_id = c.call_id "
                       f"WHERE {sql}", params).fetchone()[0]
    extra = " AND f.check_type = 'forbidden'" if by == "evidence" else ""
    rows = db.query(
        f"SELECT f.{by}, MIN(f.item_id) AS item_id, COUNT(*) AS hits, COUNT(DISTINCT "
        "f.call_id) AS calls_hit FROM calls c JOIN scores s ON s.call_id = c.call_id JOIN "
        f"findings f ON f.score_id = s.score_id WHERE {sql} AND f.passed = 0 AND f.is_flag = 0"
        f"{extra} GROUP BY f.{by} ORDER BY hits DESC, f.{by}", params)
    out = []
    for row in rows:
        row["calls"] = total
        row["hit_rate"] = row["calls_hit"] / total if total else None
        out.append(row)
    return out


def add_reviews(db: Database, call_id: str, reviewer: str,
                entries: Sequence[Mapping[str, Any]], **common: Any) -> list[int]:
    """Several `add_review`s of one call in one transaction: all are saved or none (a
    calibration scorecard is one act). Each entry holds add_review's keyword arguments
    (item_id, action, status, points, reason); `common` applies to all. Returns the ids;
    raises what add_review raises, leaving nothing written."""
    with db.atomic():
        return [add_review(db, call_id, reviewer, **{**common, **entry}) for entry in entries]


# --- labels for the classifiers -------------------------------------------------------

def add_call_label(db: Database, call_id: str, task: str, label: str, reviewer: str) -> int:
    """Append a reviewer's label of a whole call for a classifier task (the latest per
    call and task counts). Returns the label id; raises ValueError for an empty label,
    StoreError for an unknown call."""
    if not label.strip() or not task.strip():
        raise ValueError("a call label needs a task and a label")
    if db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone() is None:
        raise StoreError(call_id, "", "no such call")
    with db.atomic():
        return _insert(db.conn, "call_labels", {
            "call_id": call_id, "task": task, "label": label.strip(), "reviewer": reviewer,
            "created_at": _now()}).lastrowid


def labelled_dialogues(db: Database, task: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(call id, label, [(speaker, masked text), ...]) of every call whose latest label for
    `task` is in force, by call id."""
    latest = db.execute(
        "SELECT call_id, label FROM call_labels WHERE label_id IN (SELECT MAX(label_id) "
        "FROM call_labels WHERE task = ? GROUP BY call_id) ORDER BY call_id", (task,)).fetchall()
    out = []
    for call_id, label in latest:
        turns = db.execute("SELECT speaker, text FROM segments WHERE call_id = ? ORDER BY idx",
                           (call_id,)).fetchall()
        if turns:
            out.append((call_id, label, [(speaker, text) for speaker, text in turns]))
    return out
