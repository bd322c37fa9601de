"""`qa search`, `qa calls` and `qa export` on a database built by `qa batch`, run for real."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from tests.batchdata import SAMPLES, scalar
from tests.conftest import run_qa


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "qa.db"
    result = run_qa("batch", str(SAMPLES), "--db", str(path), "--rubric", "zh-bank-hotline",
                    "--workers", "1")
    assert result.returncode == 0, result.stderr
    return path


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_search_finds_a_chinese_substring(db):
    result = run_qa("search", "临时额度", "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    hits = lines(result.stdout)
    assert "c-0001" in {h["call_id"] for h in hits}
    assert all("临时额度" in h["text"] for h in hits)
    table = run_qa("search", "临时额度", "--db", str(db), "--speaker", "customer")
    assert "c-0001" in table.stdout and "customer" in table.stdout


def test_search_of_nothing_is_a_usage_error(db):
    assert run_qa("search", "  ", "--db", str(db)).returncode == 2


def test_calls_are_listed_with_filters(db):
    everything = lines(run_qa("calls", "--db", str(db), "--format", "json").stdout)
    assert len(everything) == scalar(db, "SELECT COUNT(*) FROM calls") == 8
    by_agent = lines(run_qa("calls", "--db", str(db), "--agent", "A017", "--format", "json").stdout)
    assert [c["call_id"] for c in by_agent] == ["c-0004", "c-0001"]
    failed = lines(run_qa("calls", "--db", str(db), "--failed-item", "password_request",
                          "--format", "json").stdout)
    assert "c-0003" in {c["call_id"] for c in failed}
    assert all(c["call_id"] != "c-0001" for c in failed)
    low = lines(run_qa("calls", "--db", str(db), "--max-score", "50", "--format", "json").stdout)
    assert low and all(c["percent"] <= 50 for c in low)
    table = run_qa("calls", "--db", str(db), "--from", "2026-11-21", "--to", "2026-11-21")
    assert "c-0004" in table.stdout and "c-0001" not in table.stdout


def test_calls_refuses_a_bad_date_and_a_missing_database(db, tmp_path):
    assert run_qa("calls", "--db", str(db), "--from", "yesterday").returncode == 2
    missing = run_qa("calls", "--db", str(tmp_path / "absent.db"))
    assert missing.returncode == 1 and "no such database" in missing.stderr


def test_export_csv_and_parquet(db, tmp_path):
    out = tmp_path / "calls.csv"
    result = run_qa("export", "--db", str(db), "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {"call_id", "agent_id", "percent", "rubric_version"} <= set(rows[0])
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese names
    parquet = tmp_path / "items.parquet"
    assert run_qa("export", "--db", str(db), "--format", "parquet", "--table", "items",
                  "--team", "信用卡一组", "--out", str(parquet)).returncode == 0
    items = pq.read_table(parquet).to_pylist()
    assert items and {r["team"] for r in items} == {"信用卡一组"}
    assert len(items) == scalar(db, "SELECT COUNT(*) FROM item_scores i JOIN calls c "
                                    "ON c.call_id = i.call_id WHERE c.team = '信用卡一组'")


def test_export_to_a_missing_folder_fails_and_leaves_nothing(db, tmp_path):
    result = run_qa("export", "--db", str(db), "--out", str(tmp_path / "no" / "x.csv"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert run_qa("export", "--db", str(db), "--format", "xlsx", "--out",
                  str(tmp_path / "x.xlsx")).returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_failures_lists_the_latest_runs_failed_files_with_stage_and_reason(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "c-0001.json").write_text((SAMPLES / "c-0001.json").read_text("utf-8"), "utf-8")
    (folder / "broken.json").write_text("{", encoding="utf-8")
    db = tmp_path / "qa.db"
    assert run_qa("batch", str(folder), "--db", str(db), "--rubric", "zh-bank-hotline",
                  "--workers", "1").returncode == 0
    [failure] = lines(run_qa("failures", "--db", str(db), "--format", "json").stdout)
    assert failure["stage"] == "parse" and failure["path"].endswith("broken.json")
    assert "malformed JSON" in failure["reason"]
    table = run_qa("failures", "--db", str(db))
    assert table.returncode == 0 and "completed" in table.stdout and "broken.json" in table.stdout
