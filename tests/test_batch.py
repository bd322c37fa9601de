"""`qa batch`, run for real in subprocesses against real SQLite files."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qa.batch import TRANSCRIBE_UNAVAILABLE
from tests.batchdata import (SAMPLES, content_digest, query, scalar, write_calls,
                             write_manifest)
from tests.conftest import REPO, run_qa


def batch(*args: str, db: Path, rubric: str = "zh-bank-hotline", workers: str = "1"):
    return run_qa("batch", *args, "--db", str(db), "--rubric", rubric, "--workers", workers)


def test_a_folder_is_scored_into_the_database_with_a_summary(tmp_path):
    write_calls(tmp_path / "in", 5)
    db = tmp_path / "qa.db"
    result = batch(str(tmp_path / "in"), db=db)
    assert result.returncode == 0, result.stderr
    assert "completed: scored 5, skipped 0, failed 0 of 5" in result.stderr
    assert "batch: 5/5 (scored 5, skipped 0, failed 0)" in result.stderr  # not a TTY: log lines
    assert "calls/s" in result.stderr
    assert scalar(db, "SELECT COUNT(*) FROM calls") == 5
    assert scalar(db, "SELECT COUNT(*) FROM scores WHERE is_current = 1") == 5
    assert scalar(db, "SELECT COUNT(*) FROM item_scores") > 5 * 10
    assert scalar(db, "PRAGMA journal_mode") == "wal"
    assert query(db, "SELECT status, scored, failed FROM runs") == [("completed", 5, 0)]


def test_a_second_run_skips_everything_and_changes_nothing(tmp_path):
    write_calls(tmp_path / "in", 6)
    db = tmp_path / "qa.db"
    assert batch(str(tmp_path / "in"), db=db).returncode == 0
    before = content_digest(db)
    again = batch(str(tmp_path / "in"), db=db)
    assert again.returncode == 0, again.stderr
    assert "scored 0, skipped 6, failed 0" in again.stderr
    assert content_digest(db) == before


def test_force_re_scores_everything_once(tmp_path):
    write_calls(tmp_path / "in", 3)
    db = tmp_path / "qa.db"
    batch(str(tmp_path / "in"), db=db)
    forced = batch(str(tmp_path / "in"), "--force", db=db)
    assert "scored 3, skipped 0" in forced.stderr
    assert scalar(db, "SELECT COUNT(*) FROM scores") == 3
    assert scalar(db, "SELECT COUNT(*) FROM segments") == scalar(
        db, "SELECT SUM(segment_count) FROM calls")


def test_a_manifest_gives_the_metadata_and_keeps_extra_columns(tmp_path):
    db = tmp_path / "qa.db"
    manifest = write_manifest(tmp_path / "calls.csv", [
        {"path": str(SAMPLES / "c-0001.json"), "call_id": "m-1", "agent_id": "A900",
         "agent_name": "周杰", "team": "信用卡二组", "queue": "cc", "started_at":
         "2026-11-22T08:00:00+08:00", "direction": "inbound", "customer_tier": "gold",
         "campaign": "双十一"},
        {"path": str(SAMPLES / "c-0002.json"), "call_id": "m-2"},
    ])
    result = run_qa("batch", "--manifest", str(manifest), "--db", str(db),
                    "--rubric", "zh-bank-hotline", "--workers", "1")
    assert result.returncode == 0, result.stderr
    row = query(db, "SELECT agent_id, agent_name, team, customer_tier, call_date, extra "
                    "FROM calls WHERE call_id = 'm-1'")[0]
    assert row[:5] == ("A900", "周杰", "信用卡二组", "gold", "2026-11-22")
    assert json.loads(row[5])["campaign"] == "双十一"
    # m-2 has no metadata in the manifest but its JSON has some: scored, with a warning
    # only for what neither gives
    assert scalar(db, "SELECT COUNT(*) FROM scores") == 2
    assert "failed 0" in result.stderr


def test_missing_metadata_is_a_warning_not_a_failure(tmp_path):
    data = json.loads((SAMPLES / "c-0001.json").read_text(encoding="utf-8"))
    data["call"] = {}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bare.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    db = tmp_path / "qa.db"
    result = batch(str(tmp_path / "in"), db=db)
    assert result.returncode == 0
    assert "scored 1" in result.stderr and "metadata missing" in result.stderr
    warnings = json.loads(scalar(db, "SELECT warnings FROM calls"))
    assert "agent_id" in warnings[0] and "started_at" in warnings[0]


def test_bad_inputs_are_recorded_as_failures_and_the_rest_completes(tmp_path):
    folder = tmp_path / "in"
    write_calls(folder, 4)
    (folder / "broken.json").write_text('{"call_id": "x", "segments": [', encoding="utf-8")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage, not audio" * 10)
    twin = json.loads((folder / "k-0001.json").read_text(encoding="utf-8"))
    twin["segments"] = twin["segments"][:3]  # same call_id, different content
    (folder / "twin.json").write_text(json.dumps(twin, ensure_ascii=False), encoding="utf-8")
    manifest = write_manifest(tmp_path / "calls.csv", [
        {"path": "k-0000.json", "call_id": "k-0000", "agent_id": "A001"},
        {"path": "gone/missing.json", "call_id": "gone-1", "agent_id": "A002"},
    ])
    db = tmp_path / "qa.db"
    result = run_qa("batch", str(folder), "--manifest", str(manifest), "--db", str(db),
                    "--rubric", "zh-bank-hotline", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "scored 4" in result.stderr and "failed 4" in result.stderr
    failures = {Path(p).name: (stage, reason) for p, stage, reason in
                query(db, "SELECT path, stage, reason FROM failures")}
    assert failures["broken.json"][0] == "parse"
    assert "malformed JSON" in failures["broken.json"][1]
    assert failures["missing.json"][0] == "manifest"
    assert "no such file" in failures["missing.json"][1]
    assert failures["twin.json"][0] == "duplicate"
    assert "duplicate call_id k-0001 with different content" in failures["twin.json"][1]
    assert failures["corrupt.wav"][0] == "transcribe"
    if importlib.util.find_spec("qa.transcribe") is None:
        assert failures["corrupt.wav"][1] == TRANSCRIBE_UNAVAILABLE
    assert scalar(db, "SELECT COUNT(*) FROM scores WHERE is_current = 1") == 4
    assert scalar(db, "SELECT content_sha256 FROM calls WHERE call_id = 'k-0001'") != \
        scalar(db, "SELECT content_sha256 FROM failures WHERE path LIKE '%twin.json'")


def three_calls_scored_with_a_copied_rubric(tmp_path: Path) -> tuple[Path, Path]:
    """(the copied zh rubric's YAML, the database) after a first run over tmp_path/in."""
    write_calls(tmp_path / "in", 3)
    shutil.copytree(REPO / "rubrics", tmp_path / "rubrics")
    path, db = tmp_path / "rubrics" / "zh-bank-hotline.yaml", tmp_path / "qa.db"
    assert batch(str(tmp_path / "in"), db=db, rubric=str(path)).returncode == 0
    return path, db


def test_a_new_rubric_version_re_scores_and_keeps_the_old_score_as_history(tmp_path):
    path, db = three_calls_scored_with_a_copied_rubric(tmp_path)
    text = path.read_text(encoding="utf-8")
    version = yaml.safe_load(text)["version"]
    path.write_text(text.replace(f'version: "{version}"', 'version: "99.0.0"', 1), encoding="utf-8")
    result = batch(str(tmp_path / "in"), db=db, rubric=str(path))
    assert "scored 3, skipped 0" in result.stderr, result.stderr
    assert "other rules" not in result.stderr  # a new version: nothing to warn of
    assert query(db, "SELECT rubric_version, is_current, COUNT(*) FROM scores GROUP BY 1, 2 "
                     "ORDER BY 1") == [(version, 0, 3), ("99.0.0", 1, 3)]


def test_a_changed_file_at_the_same_path_replaces_the_call(tmp_path):
    [path] = write_calls(tmp_path / "in", 1)
    db = tmp_path / "qa.db"
    batch(str(tmp_path / "in"), db=db)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["segments"] = data["segments"][:4]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = batch(str(tmp_path / "in"), db=db)
    assert "scored 1" in result.stderr and "failed 0" in result.stderr
    assert scalar(db, "SELECT COUNT(*) FROM segments") == 4
    assert scalar(db, "SELECT COUNT(*) FROM scores WHERE is_current = 1") == 1


def test_an_audio_call_is_re_scored_from_its_stored_transcript_without_transcribing(tmp_path):
    """A new rubric version must not transcribe again: the audio's stored transcript is
    used. The recording here is not real audio, so transcribing it would fail."""
    from qa import store
    from qa.batch import _asr_engine_id
    from qa.rubric import score_transcript
    from qa.rubrics import load_rubric
    from qa.transcripts import read_transcript

    audio = tmp_path / "in" / "call-7.wav"
    audio.parent.mkdir()
    audio.write_bytes(b"RIFF....WAVEfmt " + bytes(range(256)) * 40)
    audio_sha = hashlib.sha256(audio.read_bytes()).hexdigest()
    transcript = read_transcript(SAMPLES / "c-0003.json")
    transcript = dataclasses.replace(transcript, call=dataclasses.replace(
        transcript.call, audio_path=str(audio), audio_sha256=audio_sha))
    db_path = tmp_path / "qa.db"
    db = store.open_store(db_path)
    card = score_transcript(load_rubric("en-card-services"), transcript)
    # the engine this installation transcribes with (any, where it has none)
    engine = _asr_engine_id({})[0] or "faster-whisper:base:int8"
    store.write_calls(db, [store.build_stored_call(
        transcript, card, content_sha256="earlier", work_key="earlier-key",
        engine_id=engine, source_path=str(audio), source_kind="audio")])
    db.close()
    result = batch(str(tmp_path / "in"), db=db_path)
    assert result.returncode == 0, result.stderr
    assert "scored 1, skipped 0, failed 0" in result.stderr, result.stderr
    assert query(db_path, "SELECT rubric_id, engine_id, is_current FROM scores ORDER BY score_id") == [
        ("en-card-services", engine, 1), ("zh-bank-hotline", engine, 1)]
    again = batch(str(tmp_path / "in"), db=db_path)
    assert "scored 0, skipped 1" in again.stderr


def test_card_numbers_are_masked_in_stored_text_unless_configured(tmp_path):
    data = json.loads((SAMPLES / "c-0001.json").read_text(encoding="utf-8"))
    data["segments"].append({"start": 90.0, "end": 95.0, "speaker": "customer",
                             "text": "我的卡号是6225880137706467，手机13812345678"})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "pii.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    masked_db, kept_db = tmp_path / "masked.db", tmp_path / "kept.db"
    batch(str(tmp_path / "in"), db=masked_db)
    batch(str(tmp_path / "in"), "--keep-unredacted", db=kept_db)
    sql = "SELECT text, original_text FROM segments WHERE text LIKE '%卡号%'"
    [(text, original)] = query(masked_db, sql)
    assert "6225880137706467" not in text and text.endswith("6467,手机138****5678")
    assert original is None
    assert scalar(masked_db, "SELECT COUNT(*) FROM findings WHERE evidence LIKE '%62258801%'") == 0
    [(text, original)] = query(kept_db, sql)
    assert "6225880137706467" not in text and "6225880137706467" in original


def test_exit_codes_for_a_failed_run_and_for_usage(tmp_path):
    write_calls(tmp_path / "in", 1)
    no_folder = batch(str(tmp_path / "in"), db=tmp_path / "nowhere" / "qa.db")
    assert no_folder.returncode == 1 and "does not exist" in no_folder.stderr
    bad_rubric = batch(str(tmp_path / "in"), db=tmp_path / "qa.db", rubric="no-such-rubric")
    assert bad_rubric.returncode == 1 and "unknown rubric" in bad_rubric.stderr
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text('id: broken\nname: b\nversion: "1"\nlanguage: zh\nsections:\n'
                       '  - id: s\n    name: s\n    items:\n      - id: x\n        name: x\n'
                       '        points: -5\n        check: {type: phrase, phrases: [您好]}\n',
                       encoding="utf-8")
    invalid_run = batch(str(tmp_path / "in"), db=tmp_path / "qa.db", rubric=str(invalid))
    assert invalid_run.returncode == 1 and "bad rubric" in invalid_run.stderr
    assert "points" in invalid_run.stderr
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not a database " * 100)
    assert batch(str(tmp_path / "in"), db=not_a_db).returncode == 1
    assert batch(str(tmp_path / "missing"), db=tmp_path / "qa.db").returncode == 1
    assert batch(str(tmp_path / "in"), db=tmp_path / "qa.db", workers="0").returncode == 2
    assert run_qa("batch", "--db", str(tmp_path / "qa.db"), "--rubric",
                  "zh-bank-hotline").returncode == 2
    assert batch(str(tmp_path / "in"), "--executor", "spark", db=tmp_path / "qa.db").returncode == 2


def _start_batch(folder: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "batch", str(folder), "--db", str(db), "--rubric",
         "zh-bank-hotline", "--workers", "1", "--chunk-size", "4"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def _wait_for_scores(db: Path, proc: subprocess.Popen, at_least: int, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be stopped: {proc.communicate()}")
        if db.exists():
            try:
                if scalar(db, "SELECT COUNT(*) FROM scores") >= at_least:
                    return
            except Exception:  # the schema is still being created
                pass
        time.sleep(0.05)
    pytest.fail("the batch wrote no scores in time")


@contextlib.contextmanager
def batch_under_way(count: int, tmp_path: Path, scored_at_least: int):
    """A real `qa batch` over `count` calls that has written some scores; its process group
    is killed on the way out, whatever the test did."""
    write_calls(tmp_path / "in", count)
    db = tmp_path / "qa.db"
    proc = _start_batch(tmp_path / "in", db)
    try:
        _wait_for_scores(db, proc, at_least=scored_at_least)
        yield proc, db
    finally:
        time.sleep(0.5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _assert_each_call_scored_once(db: Path, count: int) -> None:
    assert scalar(db, "PRAGMA integrity_check") == "ok"
    assert scalar(db, "SELECT COUNT(*) FROM calls") == count
    assert scalar(db, "SELECT COUNT(*) FROM scores") == count
    assert scalar(db, "SELECT COUNT(DISTINCT call_id) FROM scores WHERE is_current = 1") == count
    assert scalar(db, "SELECT COUNT(*) FROM segments") == scalar(
        db, "SELECT SUM(segment_count) FROM calls")
    assert scalar(db, "SELECT COUNT(*) FROM item_scores") == count * scalar(
        db, "SELECT COUNT(*) FROM item_scores WHERE score_id = (SELECT MIN(score_id) FROM scores)")
    from qa import store

    assert store.integrity_check(store.open_store(db)) == "ok"


def test_sigkill_part_way_then_the_next_run_scores_every_call_exactly_once(tmp_path):
    count = 240
    with batch_under_way(count, tmp_path, scored_at_least=12) as (proc, db):
        proc.send_signal(signal.SIGKILL)  # the parent only, as `kill -9 PID` does
        proc.wait(timeout=30)
    partial = scalar(db, "SELECT COUNT(*) FROM scores")
    assert 12 <= partial < count
    assert scalar(db, "PRAGMA integrity_check") == "ok"
    result = batch(str(tmp_path / "in"), db=db)
    assert result.returncode == 0, result.stderr
    assert f"scored {count - partial}, skipped {partial}, failed 0" in result.stderr
    _assert_each_call_scored_once(db, count)
    assert query(db, "SELECT status FROM runs ORDER BY run_id") == [("killed",), ("completed",)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_stops_cleanly_after_the_calls_in_flight(tmp_path, signum):
    count = 240
    with batch_under_way(count, tmp_path, scored_at_least=8) as (proc, db):
        os.killpg(proc.pid, signum)  # the whole group, as a terminal's Ctrl-C does
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert "interrupted: scored" in stderr
    assert scalar(db, "SELECT status FROM runs") == "interrupted"
    assert scalar(db, "SELECT COUNT(*) FROM scores") < count
    result = batch(str(tmp_path / "in"), db=db)
    assert result.returncode == 0
    _assert_each_call_scored_once(db, count)


def test_on_a_terminal_a_progress_bar_shows_the_rate_and_the_time_left(tmp_path):
    import pty

    write_calls(tmp_path / "in", 3)
    main, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "batch", str(tmp_path / "in"), "--db",
         str(tmp_path / "qa.db"), "--rubric", "zh-bank-hotline", "--workers", "1"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0
    screen = output.decode("utf-8", "replace")
    assert "━" in screen and "calls/s" in screen and "ETA" in screen
    assert "3/3" in screen and "batch: 3/3" not in screen  # the bar, not log lines
    assert "completed: scored 3" in screen


def test_an_edited_lexicon_under_the_same_version_re_scores_with_a_warning(tmp_path):
    path, db = three_calls_scored_with_a_copied_rubric(tmp_path)
    with (path.parent / "lexicons" / "zh-forbidden.txt").open("a", encoding="utf-8") as lexicon:
        lexicon.write("爱咋咋地\n")
    edited = batch(str(tmp_path / "in"), db=db, rubric=str(path))
    assert edited.returncode == 0, edited.stderr
    assert "scored 3, skipped 0" in edited.stderr, edited.stderr
    assert "3 call(s) in the database were scored under this version by other rules" in edited.stderr
    rows = query(db, "SELECT rubric_version, is_current, rubric_fingerprint FROM scores "
                     "ORDER BY score_id")
    version = yaml.safe_load(path.read_text(encoding="utf-8"))["version"]
    assert [(v, c) for v, c, _ in rows] == [(version, 0)] * 3 + [(version, 1)] * 3
    assert len({f for _, _, f in rows[:3]}) == len({f for _, _, f in rows[3:]}) == 1
    assert rows[0][2] != rows[3][2]
    again = batch(str(tmp_path / "in"), db=db, rubric=str(path))
    assert "scored 0, skipped 3" in again.stderr and "other rules" not in again.stderr
