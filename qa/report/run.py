"""`qa report`: one report or a pack of them from the results database.

Everything is checked before anything is written (the database, the period, every
subject, the output paths), so bad input leaves no file behind; then the period's data is
read once and each report is built and written atomically."""

from __future__ import annotations

import datetime as dt
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from qa.errors import InputError
from qa.report.data import EmptyReport, Scope, agents_in, build_report
from qa.report.period import Period
from qa.report.render import FORMATS, check_writable, write_report

_UNSAFE_RE = re.compile(r"[\\/:*?\"<>|\s]+")


@dataclass(frozen=True)
class ReportJob:
    scope: Scope
    subject: str | None
    path: Path


def default_name(scope: Scope, subject: str | None, period: Period, fmt: str) -> str:
    """agent-A017-2026-11.pdf, team-信用卡一组-2026-W47.xlsx, center-2026-Q4.html"""
    parts = [scope] + ([_UNSAFE_RE.sub("_", subject)] if subject else []) + [
        period.label.replace("..", "_to_")]
    return "-".join(parts) + f".{fmt}"


def plan_jobs(scope: Scope, subjects: Sequence[str], period: Period, fmt: str,
              out: Path | None, out_dir: Path | None) -> list[ReportJob]:
    """Output paths: `out` for a single report, else files named by `default_name` in
    `out_dir` (default: the current folder)."""
    if fmt not in FORMATS:
        raise InputError("--format", "", f"unknown format {fmt!r} (expected {', '.join(FORMATS)})")
    wanted: list[str | None] = list(subjects) if scope != "center" else [None]
    if out is not None:
        if len(wanted) != 1:
            raise InputError("--out", "", f"{len(wanted)} reports need --out-dir, not one --out file")
        jobs = [ReportJob(scope, wanted[0], out)]
    else:
        folder = out_dir or Path(".")
        if not folder.is_dir():
            raise InputError(str(folder), "", "output folder does not exist")
        jobs = [ReportJob(scope, s, folder / default_name(scope, s, period, fmt)) for s in wanted]
    for job in jobs:
        check_writable(job.path)
    return jobs


def run_reports(db, scope: Scope, subjects: Sequence[str], period: Period, fmt: str, *,
                all_subjects: bool = False, out: Path | None = None,
                out_dir: Path | None = None, generated_at: str | None = None,
                workers: int | None = None,
                progress: Callable[[int, int, ReportJob], None] | None = None) -> list[Path]:
    """Write the reports; returns their paths. Several reports are rendered by `workers`
    processes (default: one per core). Raises InputError for an unknown subject, a
    subject with no scored call in the period, or an output that cannot be written —
    before any file is written."""
    from qa.report.source import frames_for_period

    frames = frames_for_period(db, period)
    if all_subjects:
        if scope == "agent":
            subjects = agents_in(frames, period)
        elif scope == "team":
            subjects = sorted({str(t) for t in frames.calls_in(period)["team"].dropna()})
        if not subjects:
            raise InputError(period.label, "", "no scored calls in this period")
    elif scope != "center" and not subjects:
        raise InputError(scope, "", f"name the {scope} (or use --all)")
    from qa import store

    for subject in (subjects if scope != "center" else []):
        if not store.has_subject(db, scope, subject):
            raise InputError(subject, "", f"unknown {scope}: no call in the database has "
                                          f"{'agent_id' if scope == 'agent' else 'team'} {subject!r}")
    jobs = plan_jobs(scope, subjects, period, fmt, out, out_dir)
    stamp = generated_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    reports = []
    for job in jobs:  # build all first: an empty period fails before anything is written
        try:
            reports.append((job, build_report(frames, scope, job.subject, period,
                                              generated_at=stamp)))
        except EmptyReport as exc:
            raise InputError(job.subject or scope, "", str(exc)) from None
    workers = min(len(reports), workers or os.cpu_count() or 1)
    if workers <= 1:
        for n, (job, report) in enumerate(reports, start=1):
            write_report(report, fmt, job.path)
            if progress:
                progress(n, len(reports), job)
        return [job.path for job, _ in reports]
    # Layout and font work is CPU-bound Python: processes, not threads.
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(write_report, report, fmt, job.path): job for job, report in reports}
        for n, done in enumerate(as_completed(pending), start=1):
            done.result()
            if progress:
                progress(n, len(reports), pending[done])
    return [job.path for job, _ in reports]
