"""Coaching-report speed (run on demand, not a test).

    .venv/bin/python bench/report.py [--calls-per-agent 500] [--pack-agents 200]
                                     [--pack-calls-per-agent 25] [--format pdf]

Builds a results database of synthetic Mandarin calls (the generator of bench/score.py,
scored with the bundled zh rubric and written with qa.store), then times:
1. one agent's PDF report with --calls-per-agent calls in November 2026 (target < 10 s);
2. the monthly pack: one report per agent for --pack-agents agents (target: 200 agents
   in under 10 minutes), through the same code as `qa report agent --all-agents`.
Database building is not timed. The same-run baseline is the CSV report of the same agent
(the data work alone, without layout), printed beside the PDF time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from score import synthetic_call  # noqa: E402

from qa import store  # noqa: E402
from qa.model import transcript_from_dict  # noqa: E402
from qa.report.period import parse_period  # noqa: E402
from qa.report.run import run_reports  # noqa: E402
from qa.rubric import score_transcript  # noqa: E402
from qa.rubrics import load_rubric  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def build_db(path: Path, agents: list[tuple[str, str, str]], calls_per_agent: int,
             rng: random.Random) -> int:
    rubric = load_rubric("zh-bank-hotline")
    db = store.open_store(path)
    batch, n = [], 0
    for agent_id, name, team in agents:
        for k in range(calls_per_agent):
            data = synthetic_call(rng, n, 40)
            day = dt.date(2026, 10, 1) + dt.timedelta(days=rng.randrange(61))
            data["call_id"] = f"{agent_id}-{k:04d}"
            data["call"].update(agent_id=agent_id, agent_name=name, team=team,
                                started_at=f"{day.isoformat()}T10:{k % 60:02d}:00+08:00")
            transcript = transcript_from_dict(data)
            card = score_transcript(rubric, transcript)
            content = store.content_hash(repr(data).encode("utf-8"))
            batch.append(store.build_stored_call(
                transcript, card, content_sha256=content,
                work_key=store.work_key(content, rubric.id, rubric.version, "transcript"),
                engine_id="transcript", source_path=f"{data['call_id']}.json",
                source_kind="transcript"))
            n += 1
            if len(batch) >= 500:
                store.write_calls(db, batch)
                batch = []
    store.write_calls(db, batch)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-agent", type=int, default=500)
    parser.add_argument("--pack-agents", type=int, default=200)
    parser.add_argument("--pack-calls-per-agent", type=int, default=25)
    parser.add_argument("--format", default="pdf")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    rng = random.Random(5)
    period = parse_period("2026-11")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        single = root / "single.db"
        calls = build_db(single, [("A001", "王敏", "一组"), ("A002", "李强", "一组")],
                         2 * args.calls_per_agent, rng)  # about half fall in November
        db = store.open_store(single, create=False)
        for fmt in ("csv", args.format):
            started, cpu = time.perf_counter(), time.process_time()
            [path] = run_reports(db, "agent", ["A001"], period, fmt, out=root / f"A001.{fmt}")
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            in_period = store.count_calls(db, store.CallFilter(
                agent_id="A001", date_from="2026-11-01", date_to="2026-11-30"))
            print(f"one agent, {in_period} calls in {period.label} ({calls} in the database), "
                  f"{fmt}: {seconds:.2f} s ({cpu:.2f} s CPU), {path.stat().st_size / 1024:.0f} KiB"
                  + (" (target: under 10 s)" if fmt == "pdf" else " (data only: baseline)"))

        agents = [(f"P{i:03d}", SURNAMES[i % len(SURNAMES)] + "小" + SURNAMES[(i * 7) % len(SURNAMES)],
                   f"{i % 10 + 1}组") for i in range(args.pack_agents)]
        pack_db = root / "pack.db"
        calls = build_db(pack_db, agents, args.pack_calls_per_agent, rng)
        db = store.open_store(pack_db, create=False)
        out = root / "pack"
        out.mkdir()
        started = time.perf_counter()
        paths = run_reports(db, "agent", [], period, args.format, all_subjects=True, out_dir=out,
                            workers=args.workers)
        seconds = time.perf_counter() - started
        print(f"monthly pack: {len(paths)} {args.format} reports ({calls} calls in the "
              f"database) in {seconds:.1f} s, {seconds / len(paths):.2f} s per agent "
              f"with {args.workers or 'one per core'} workers (target: 200 agents in under 600 s)")


if __name__ == "__main__":
    main()
