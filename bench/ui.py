"""Reviewer UI speed with a big database (run on demand, not a test).

    .venv/bin/python bench/ui.py [--calls 100000] [--baseline 1000] [--runs 5]

Builds (once, kept under out/bench/) databases of N calls and of a small baseline:
the six bundled Mandarin sample calls are scored for real with the zh-bank-hotline rubric
(qa.rubric), then their rows are copied under new call ids, agents (200), teams (10)
and dates (90 days), and written with the store's own write function
(qa.store.write_calls, 5,000 calls a transaction) — the batch's writer, without scoring
each copy again. Segments, items and findings (and the FTS index) are all real rows.

Then, with streamlit.testing.v1.AppTest against the real app.py, signed in as a reviewer:
the queue's first page and the call view (a call in the middle of the table), each
rendered `--runs` times in a fresh AppTest, with Streamlit's data cache cleared before
every run (cold: every query hits SQLite). Prints the median, the worst, and the ratio
to the same page on the baseline database measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import store  # noqa: E402
from qa.rubric import score_transcript  # noqa: E402
from qa.rubrics import load_rubric  # noqa: E402
from qa.transcripts import read_transcript  # noqa: E402

SAMPLES = sorted((ROOT / "samples" / "transcripts").glob("c-*.json"))
CHUNK = 5000


def templates() -> list[store.StoredCall]:
    rubric = load_rubric("zh-bank-hotline")
    out = []
    for path in SAMPLES:
        transcript = read_transcript(path)
        card = score_transcript(rubric, transcript)
        out.append(store.build_stored_call(
            transcript, card, content_sha256=f"bench-{path.stem}", work_key=path.stem,
            engine_id="transcript-json", source_path=str(path), source_kind="transcript"))
    return out


def copy_call(t: store.StoredCall, i: int) -> store.StoredCall:
    call_id = f"b-{i:06d}"
    day, hour = i % 90, 8 + i % 14
    started = f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{hour:02d}:{i % 60:02d}:00+08:00"
    agent = f"A{i % 200:03d}"

    def rows(items):
        return [(call_id, *row[1:]) for row in items]

    return dataclasses.replace(
        t, call_id=call_id, content_sha256=f"{t.content_sha256}-{i}", work_key=f"w-{i}",
        call={**t.call, "call_id": call_id, "content_sha256": f"{t.content_sha256}-{i}",
              "agent_id": agent, "agent_name": f"坐席{i % 200:03d}",
              "team": f"信用卡{i % 10}组", "started_at": started, "call_date": started[:10]},
        segments=rows(t.segments), score={**t.score, "call_id": call_id, "work_key": f"w-{i}"},
        items=rows(t.items), findings=rows(t.findings), predictions=rows(t.predictions))


def build(path: Path, calls: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    db = store.open_store(partial)
    base = templates()
    started = time.perf_counter()
    for first in range(0, calls, CHUNK):
        store.write_calls(db, (copy_call(base[i % len(base)], i)
                               for i in range(first, min(calls, first + CHUNK))))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.close()
    partial.rename(path)
    print(f"built {path} with {calls:,} calls in {time.perf_counter() - started:.1f} s")
    return path


def render_times(db: Path, runs: int, call_id: str) -> dict[str, list[float]]:
    import logging

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)

    from qa.users import User

    os.environ["QA_DB"], os.environ["QA_UI_DEMO"] = str(db), "0"
    times: dict[str, list[float]] = {"queue first page": [], "call view": []}
    for _ in range(runs + 1):  # the first run warms imports and the connection
        for page, params in (("queue first page", {}), ("call view", {"call_id": call_id})):
            st.cache_data.clear()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.session_state["user"] = User("bench.reviewer", "reviewer")
            at.query_params.update(params)
            if page == "call view":
                at.switch_page("pages/1_Call.py")
            started = time.perf_counter()
            at.run()
            elapsed = time.perf_counter() - started
            assert not at.exception, at.exception
            expected = f"Call {call_id}" if page == "call view" else "Review queue"
            assert at.title[0].value == expected, at.title[0].value
            times[page].append(elapsed)
    return {k: v[1:] for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    out = ROOT / "out" / "bench"
    big = build(out / f"ui-{args.calls}.db", args.calls)
    small = build(out / f"ui-{args.baseline}.db", args.baseline)
    results = {}
    for label, db, n in (("baseline", small, args.baseline), ("big", big, args.calls)):
        results[label] = render_times(db, args.runs, f"b-{n // 2:06d}")
    for page in results["big"]:
        big_t, small_t = results["big"][page], results["baseline"][page]
        print(f"{page}: {args.calls:,} calls median {statistics.median(big_t):.3f} s, worst "
              f"{max(big_t):.3f} s; {args.baseline:,} calls median "
              f"{statistics.median(small_t):.3f} s; ratio "
              f"{statistics.median(big_t) / statistics.median(small_t):.2f}x (target: under 1 s)")


if __name__ == "__main__":
    main()
