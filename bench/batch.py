"""Batch scoring into SQLite, end to end (run on demand, not a test).

    .venv/bin/python bench/batch.py [--calls 10000] [--segments 40] [--workers 2]

Writes N synthetic Mandarin transcript JSON calls (bench/score.py's generator, about 40
segments each, with agent, team and date metadata) to a temporary folder, then runs the
real command line, `qa batch FOLDER --db ... --rubric zh-bank-hotline`:
1. with --workers N (default 2) into a new database;
2. with --workers 1 into another new database (the baseline, same run, same calls);
3. again with --workers N over the first database: everything is skipped, and the
   result tables must be unchanged (checked by hashing every row before and after).
Prints wall time (process start to exit), calls/s, database size per call, and the
speed-up of N workers over 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from score import synthetic_call  # noqa: E402

TABLES = ("calls", "transcripts", "segments", "scores", "item_scores", "findings", "predictions")


def write_calls(folder: Path, count: int, segments: int) -> None:
    rng = random.Random(42)
    for i in range(count):
        data = synthetic_call(rng, i, segments)
        data["call"].update(agent_id=f"A{i % 150:03d}", team=f"信用卡{i % 12}组",
                            queue="credit-card",
                            started_at=f"2026-11-{1 + i % 28:02d}T{8 + i % 10:02d}:00:00+08:00")
        (folder / f"{data['call_id']}.json").write_text(json.dumps(data, ensure_ascii=False),
                                                       encoding="utf-8")


def run_batch(folder: Path, db: Path, workers: int) -> tuple[float, str]:
    """Wall seconds and the summary line plus the CPU seconds the run used (its parent
    and worker processes) and the load average: what a busy shared machine hides."""
    command = [sys.executable, "-m", "qa", "batch", str(folder), "--db", str(db),
               "--rubric", "zh-bank-hotline", "--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"qa batch failed ({result.returncode}):\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, (f"{result.stderr.strip().splitlines()[-1]}\n    CPU {cpu:.1f} s in all "
                     f"its processes; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on "
                     f"{os.cpu_count()} cores")


def digest(db: Path) -> str:
    h = hashlib.sha256()
    conn = sqlite3.connect(db)
    for table in TABLES:
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def size_per_call(db: Path, calls: int) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    total = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return total / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.calls
    with tempfile.TemporaryDirectory(prefix="qa-bench-batch-") as tmp:
        tmp_path = Path(tmp)
        folder = tmp_path / "calls"
        folder.mkdir()
        write_calls(folder, n, args.segments)
        print(f"{n:,} transcript JSON calls x {args.segments} segments in {folder}")

        many, line = run_batch(folder, tmp_path / "many.db", args.workers)
        print(f"--workers {args.workers}: {many:.1f} s, {n / many:,.1f} calls/s "
              f"(target: {n:,} in under {120 * n / 10_000:.0f} s)\n    {line}")
        one, line = run_batch(folder, tmp_path / "one.db", 1)
        print(f"--workers 1: {one:.1f} s, {n / one:,.1f} calls/s\n    {line}")
        print(f"speed-up of {args.workers} workers over 1: {one / many:.2f}x")
        print(f"database size: {size_per_call(tmp_path / 'many.db', n) / 1024:.1f} KiB per call")

        before = digest(tmp_path / "many.db")
        again, line = run_batch(folder, tmp_path / "many.db", args.workers)
        unchanged = digest(tmp_path / "many.db") == before
        print(f"second run over the same calls: {again:.1f} s (target: under 10 s), "
              f"result tables {'unchanged' if unchanged else 'CHANGED'}\n    {line}")


if __name__ == "__main__":
    main()
