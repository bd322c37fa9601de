"""The `qa` command line. It parses options, calls qa.* functions and renders; the logic
lives in the library. Exit codes: 0 the command ran (whatever the scores), 1 the run
itself failed, 2 bad input or usage."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qa.agreement import agreement
from qa.errors import QAError
from qa.model import Scorecard
from qa.rubric import Rubric, score_transcript, scorecard_to_dict
from qa.rubrics import AUTO, RubricChooser, load_rubric
from qa.text import redact
from qa.transcripts import iter_transcripts

app = typer.Typer(help="callqa: score contact-centre calls against a QA rubric.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
rubric_app = typer.Typer(help="Rubric tools.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

STATUS_STYLE = {"pass": "green", "fail": "red", "na": "dim", "critical": "bold white on red"}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def redact_scorecard(data: dict) -> dict:
    """Evidence in a scorecard dict with card, ID and phone numbers and secrets masked."""
    for group in (data["items"], data["flags"]):
        for entry in group:
            for finding in entry["findings"]:
                finding["evidence"] = redact(finding["evidence"] or "")
    return data


def _reason(card_item) -> str:
    failed = [f for f in card_item.findings if f.passed is False]
    shown = failed or list(card_item.findings)
    if not shown:
        return ""
    f = shown[0]
    when = f" @{f.start:.1f}s" if f.start is not None else ""
    evidence = f" «{redact(f.evidence)}»" if f.evidence else ""
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{f.detail}{evidence}{when}{more}"


def _print_table(card: Scorecard, rubric: Rubric) -> None:
    verdict = Text("CRITICAL FAIL", style="bold red") if card.critical_failed else (
        Text("PASS", style="bold green") if card.passed else Text("BELOW PASS MARK", style="bold yellow"))
    title = Text.assemble(
        f"{card.call_id}  ", (f"{card.total:g}/{card.max_total:g}", "bold"),
        f"  {card.percent:.1f}%  ", ("★" * card.stars + "☆" * (5 - card.stars), "yellow"), "  ", verdict)
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("section")
    table.add_column("item")
    table.add_column("status")
    table.add_column("points", justify="right")
    table.add_column("why", overflow="fold")
    section_names = {s.section_id: s.name for s in card.sections}
    for item in card.items:
        table.add_row(section_names.get(item.section_id, item.section_id), item.name,
                      Text(item.status, style=STATUS_STYLE[item.status]),
                      "-" if item.status == "na" else f"{item.points:g}/{item.max:g}",
                      _reason(item))
    out.print(table)
    if card.critical_failed and card.calculated_total != card.total:
        out.print(f"  calculated score before the critical fail: {card.calculated_total:g}/{card.max_total:g}")
    for flag in card.flags:
        f = flag.findings[0]
        out.print(Text.assemble(("  flag ", "bold magenta"), f"{flag.name}: {f.detail} «{redact(f.evidence)}»"))
    out.print(f"  rubric {rubric.id} {rubric.version}\n", style="dim")


@app.command()
def score(
    transcript: Optional[Path] = typer.Option(None, "--transcript", "-t",
                                              help="A transcript JSON file, or a folder of them."),
    rubric: str = typer.Option(AUTO, "--rubric", "-r",
                               help="Rubric id (bundled or on QA_RUBRICS_PATH) or YAML path; "
                                    "auto: zh-bank-hotline or en-card-services by language."),
    format: str = typer.Option("table", "--format", "-f", help="table or json (one object a line)."),
    redact_pii: bool = typer.Option(True, "--redact/--no-redact",
                                    help="Mask card, ID and phone numbers and secrets in evidence."),
    audio: Optional[list[Path]] = typer.Option(None, "--audio", "-a",
                                               help="Recordings to transcribe and score (repeatable; a folder too)."),
    model: Optional[str] = typer.Option(None, "--model", help="With --audio: a CTranslate2 Whisper "
                                        "directory (faster-whisper) or a .pt checkpoint (openai-whisper)."),
    language: str = typer.Option("auto", "--language", help="With --audio: auto, zh or en."),
    agent_channel: str = typer.Option("left", "--agent-channel", help="With --audio: left or right."),
    engine: str = typer.Option("faster-whisper", "--engine",
                               help="With --audio: faster-whisper or openai-whisper."),
) -> None:
    """Score call transcripts (or recordings, with --audio) against a rubric."""
    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
    if audio:
        return score_audio(audio, rubric, format, redact_pii, model, language, agent_channel,
                           engine)
    if transcript is None:
        raise _fail("give --transcript FILE|DIR or --audio FILE")
    try:
        rubrics = RubricChooser(rubric)
    except QAError as exc:
        raise _fail(str(exc))
    bad = 0
    try:
        for path, item in iter_transcripts(transcript):
            if isinstance(item, QAError):
                err.print(f"[red]error:[/red] {item}", highlight=False)
                bad += 1
                continue
            loaded = rubrics.for_language(item.language)
            _emit_card(score_transcript(loaded, item), loaded, format, redact_pii)
    except QAError as exc:
        raise _fail(str(exc))
    if bad:
        raise typer.Exit(2)


@rubric_app.command("check")
def rubric_check(paths: list[str] = typer.Argument(..., help="Rubric YAML files or ids.")) -> None:
    """Validate rubrics and their lexicons: prints file:field: reason and exits 1 on the
    first problem in each file."""
    failed = 0
    for name in paths:
        try:
            loaded = load_rubric(name)
        except QAError as exc:
            err.print(f"{exc}", highlight=False, markup=False)
            failed += 1
            continue
        items = loaded.items()
        out.print(f"ok {name}: {loaded.id} {loaded.version}, {len(loaded.sections)} sections, "
                  f"{len(items)} items ({sum(i.points for i in items):g} points), "
                  f"{len(loaded.flags)} flags", highlight=False)
    if failed:
        raise typer.Exit(1)


@rubric_app.command("agreement")
def rubric_agreement(
    labelled: Path = typer.Argument(..., help="A folder of labelled transcript JSON files."),
    rubric: str = typer.Option(AUTO, "--rubric", "-r", help="Rubric id or path; auto by language."),
    show: int = typer.Option(10, "--show", help="How many disagreements to list per item."),
) -> None:
    """Item-by-item agreement of automatic scoring with reviewers' labels (the `labels`
    key of each transcript), and forbidden-word precision and recall by segment."""
    try:
        rubrics = RubricChooser(rubric)
        scored = []
        for path, item in iter_transcripts(labelled):
            if isinstance(item, QAError):
                raise item
            labels = item.extra.get("labels")
            if not isinstance(labels, dict):
                raise _fail(f"{path}: labels: missing (expected an object of item labels)")
            scored.append((score_transcript(rubrics.for_language(item.language), item), labels))
    except QAError as exc:
        raise _fail(str(exc))
    report = agreement(scored)
    table = Table(title=f"{report.calls} labelled calls", title_justify="left")
    for column in ("item", "agreement", "calls", "disagreements (call: label -> scored)"):
        table.add_column(column)
    for item_id, entry in sorted(report.items.items()):
        shown = ", ".join(f"{c}: {e}->{g}" for c, e, g in entry.disagreements[:show])
        table.add_row(item_id, f"{entry.rate:.1%}", str(entry.total), shown)
    out.print(table)
    fw = report.forbidden
    out.print(f"forbidden words by segment: precision {fw.precision:.3f}, recall {fw.recall:.3f} "
              f"(tp {fw.true_positive}, fp {fw.false_positive}, fn {fw.false_negative})",
              highlight=False)
    if fw.false_hits:
        out.print(f"  false hits: {fw.false_hits[:show]}", highlight=False)
    if fw.misses:
        out.print(f"  misses: {fw.misses[:show]}", highlight=False)


# --- report commands ---

report_app = typer.Typer(help="Coaching reports for trainers (PDF, HTML, XLSX, CSV).",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")

_PERIOD_HELP = "2026-11 (month), 2026-W47 (ISO week), 2026-Q4, or a day 2026-11-20."


def _report(scope: str, subjects: list[str], all_subjects: bool, db_path: Path,
            period: Optional[str], date_from: Optional[str], date_to: Optional[str],
            fmt: str, out_file: Optional[Path], out_dir: Optional[Path],
            workers: Optional[int] = None) -> None:
    from rich.progress import Progress

    from qa.report.period import parse_period
    from qa.report.run import run_reports
    from qa.store import open_store

    try:
        chosen = parse_period(period, date_from, date_to)
        db = open_store(db_path, create=False, upgrade=False)
        with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("reports", total=None)

            def advance(n: int, total: int, job) -> None:
                bar.update(task, completed=n, total=total, description=job.path.name)

            paths = run_reports(db, scope, subjects, chosen, fmt, all_subjects=all_subjects,
                                out=out_file, out_dir=out_dir, workers=workers,
                                progress=advance)
    except QAError as exc:
        raise _fail(str(exc))
    for path in paths:
        out.print(str(path), highlight=False)


ReportDbOpt = Annotated[Path, typer.Option("--db", help="Results database.")]
PeriodOpt = Annotated[Optional[str], typer.Option("--period", help=_PERIOD_HELP)]
ReportFromOpt = Annotated[Optional[str], typer.Option("--from", help="First day, YYYY-MM-DD.")]
ReportToOpt = Annotated[Optional[str], typer.Option("--to", help="Last day, YYYY-MM-DD.")]
ReportFormatOpt = Annotated[str, typer.Option("--format", help="pdf, html, xlsx or csv.")]
OutFileOpt = Annotated[Optional[Path], typer.Option("--out", help="Output file (one report).")]
OutDirOpt = Annotated[Optional[Path], typer.Option("--out-dir", help="Folder for several reports.")]


def _report_command(scope: str, noun: str):
    def command(
        subjects: list[str] = typer.Argument(None, help=f"{noun} (one or more)."),
        all_subjects: bool = typer.Option(False, "--all", f"--all-{scope}s",
                                          help=f"Every {scope} with calls in the period."),
        db: ReportDbOpt = Path("qa.db"),
        period: PeriodOpt = None,
        date_from: ReportFromOpt = None,
        date_to: ReportToOpt = None,
        fmt: ReportFormatOpt = "pdf",
        out_file: OutFileOpt = None,
        out_dir: OutDirOpt = None,
        workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                              help="Processes rendering several reports "
                                                   "(default: one per core)."),
    ) -> None:
        _report(scope, subjects or [], all_subjects, db, period, date_from, date_to, fmt,
                out_file, out_dir, workers)

    return command


report_app.command("agent", help="Coaching report for agents (by agent id).")(
    _report_command("agent", "Agent ids"))
report_app.command("team", help="Team report with a league table and KPIs.")(
    _report_command("team", "Team names"))


@report_app.command("center", help="Whole-centre report.")
def report_center(db: ReportDbOpt = Path("qa.db"), period: PeriodOpt = None,
                  date_from: ReportFromOpt = None, date_to: ReportToOpt = None,
                  fmt: ReportFormatOpt = "pdf", out_file: OutFileOpt = None,
                  out_dir: OutDirOpt = None) -> None:
    _report("center", [], False, db, period, date_from, date_to, fmt, out_file, out_dir)


# --- batch and store commands ---
# (qa batch / qa search / qa calls / qa export: logic in qa.batch, qa.store, qa.export)

def _open_db(db: Path, create: bool = False):
    from qa.store import open_store

    try:
        return open_store(db, create=create)
    except QAError as exc:
        raise _fail(str(exc), 1)


@app.command()
def batch(
    path: Optional[Path] = typer.Argument(None, help="A folder of transcript JSON and/or audio "
                                          "files, or one file (optional with --manifest)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", "-m",
                                            help="CSV: path, call_id, agent_id, agent_name, team, "
                                                 "queue, started_at, direction, customer_tier, ..."),
    db: Path = typer.Option(..., "--db", help="SQLite database (created when missing)."),
    rubric: str = typer.Option(..., "--rubric", "-r", help="Rubric id or YAML path."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Worker processes."),
    force: bool = typer.Option(False, "--force", help="Re-do everything, transcription included."),
    executor: str = typer.Option("local", "--executor", help="local (a process pool) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Dask scheduler address, e.g. tcp://host:8786."),
    chunk_size: int = typer.Option(16, "--chunk-size", min=1, help="Calls per unit of work."),
    keep_unredacted: bool = typer.Option(False, "--keep-unredacted",
                                         help="Also store the unmasked text of masked segments."),
) -> None:
    """Score a night's calls into the database: skips what is already scored, resumable,
    parallel. Exit 0 when the run completed (even with failed files), 1 when the run
    itself failed, 2 on usage errors, 130/143 when stopped by SIGINT/SIGTERM."""
    from qa.batch import (EXECUTORS, BatchOptions, LogProgress, TerminalProgress, run_batch,
                          summary_lines)

    if executor not in EXECUTORS:
        raise _fail(f"--executor must be local or dask, not {executor!r}")
    if executor == "dask" and not scheduler:
        raise _fail("--executor dask needs --scheduler tcp://HOST:8786")
    if path is None and manifest is None:
        raise _fail("give a folder or file to score, or --manifest")
    progress = TerminalProgress(err) if err.is_terminal else LogProgress(
        lambda line: err.print(line, highlight=False, markup=False))
    options = BatchOptions(db=db, rubric=rubric, path=path, manifest=manifest, workers=workers,
                           force=force, executor=executor, scheduler=scheduler,
                           chunk_size=chunk_size, keep_original=keep_unredacted)
    try:
        summary = run_batch(options, progress)
    except QAError as exc:
        raise _fail(str(exc), 1)
    finally:
        progress.close()
    for line in summary_lines(summary, db):
        err.print(line, highlight=False, markup=False)
    if summary.signal is not None:
        raise typer.Exit(128 + summary.signal)


def _date(value: Optional[str], option: str) -> Optional[str]:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise _fail(f"{option} must be a date such as 2026-11-22, not {value!r}")


def _print_json_lines(rows: list[dict]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


AgentOpt = Annotated[Optional[str], typer.Option("--agent", help="Agent id.")]
TeamOpt = Annotated[Optional[str], typer.Option("--team", help="Team name.")]
QueueOpt = Annotated[Optional[str], typer.Option("--queue", help="Queue.")]
RubricOpt = Annotated[Optional[str], typer.Option("--rubric", "-r", help="Rubric id.")]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="First call date, YYYY-MM-DD.")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Last call date, YYYY-MM-DD.")]
MinOpt = Annotated[Optional[float], typer.Option("--min-score", help="Lowest percent.")]
MaxOpt = Annotated[Optional[float], typer.Option("--max-score", help="Highest percent.")]
FailedOpt = Annotated[Optional[str], typer.Option("--failed-item", help="Item id that failed.")]
FlagOpt = Annotated[Optional[str], typer.Option("--flag", help="Flag raised, e.g. customer_abuse.")]
CriticalOpt = Annotated[bool, typer.Option("--critical", help="Only critical fails.")]
DbOpt = Annotated[Path, typer.Option("--db", help="The SQLite database written by qa batch.")]


def _call_filter(agent, team, queue, rubric, date_from, date_to, min_score, max_score,
                 failed_item, flag, critical):
    from qa.store import CallFilter

    return CallFilter(agent_id=agent, team=team, queue=queue, rubric_id=rubric,
                      date_from=_date(date_from, "--from"), date_to=_date(date_to, "--to"),
                      min_percent=min_score, max_percent=max_score, failed_item=failed_item,
                      flag=flag, critical_only=critical)


@app.command()
def search(
    text: str = typer.Argument(..., help="Text to find (a substring: 临时额度)."),
    db: DbOpt = ..., speaker: Optional[str] = typer.Option(None, "--speaker",
                                                          help="agent or customer."),
    agent: AgentOpt = None, team: TeamOpt = None,
    limit: int = typer.Option(50, "--limit", min=1),
    format: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Find segments containing TEXT (full-text, Chinese substrings included)."""
    from qa.store import CallFilter, search_segments

    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
    where = CallFilter(agent_id=agent, team=team) if agent or team else None
    try:
        hits = search_segments(_open_db(db), text, speaker=speaker, where=where, limit=limit)
    except ValueError as exc:
        raise _fail(str(exc))
    if format == "json":
        return _print_json_lines(hits)
    table = Table(title=f"{len(hits)} segments containing «{text}»", title_justify="left")
    for column in ("call", "time", "speaker", "agent", "text"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        line = Text(hit["text"])
        if hit["match_start"] is not None:
            line.stylize("bold reverse", hit["match_start"], hit["match_end"])
        table.add_row(hit["call_id"], f"{hit['start']:.1f}s", hit["speaker"],
                      hit["agent_name"] or hit["agent_id"] or "", line)
    out.print(table)


@app.command("calls")
def calls_list(
    db: DbOpt = ..., agent: AgentOpt = None, team: TeamOpt = None, queue: QueueOpt = None,
    rubric: RubricOpt = None, date_from: FromOpt = None, date_to: ToOpt = None,
    min_score: MinOpt = None, max_score: MaxOpt = None, failed_item: FailedOpt = None,
    flag: FlagOpt = None, critical: CriticalOpt = False,
    order: str = typer.Option("date", "--order", help="date, score, call_id or agent."),
    limit: int = typer.Option(50, "--limit", min=1),
    format: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """List scored calls with their current score, filtered."""
    from qa.store import count_calls, list_calls

    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
    where = _call_filter(agent, team, queue, rubric, date_from, date_to, min_score, max_score,
                         failed_item, flag, critical)
    database = _open_db(db)
    try:
        rows = list_calls(database, where, limit=limit, order=order)
    except ValueError as exc:
        raise _fail(str(exc))
    if format == "json":
        return _print_json_lines(rows)
    total = count_calls(database, where)
    table = Table(title=f"{len(rows)} of {total} calls", title_justify="left")
    for column in ("call", "started", "agent", "team", "queue", "rubric", "score", "stars",
                   "verdict", "flags"):
        table.add_column(column)
    for r in rows:
        verdict = Text("CRITICAL", style="bold red") if r["critical_failed"] else (
            Text("pass", style="green") if r["passed"] else Text("below", style="yellow"))
        table.add_row(r["call_id"], (r["started_at"] or "")[:16], r["agent_name"] or r["agent_id"] or "",
                      r["team"] or "", r["queue"] or "", f"{r['rubric_id']} {r['rubric_version']}",
                      f"{r['total']:g}/{r['max_total']:g}", "★" * (r["stars"] or 0), verdict,
                      ", ".join(r["flags"]))
    out.print(table)


@app.command("export")
def export_cmd(
    db: DbOpt = ..., out_path: Path = typer.Option(..., "--out", "-o", help="Output file (- for stdout, CSV)."),
    format: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
    table: str = typer.Option("calls", "--table", help="calls, items or findings."),
    agent: AgentOpt = None, team: TeamOpt = None, queue: QueueOpt = None,
    rubric: RubricOpt = None, date_from: FromOpt = None, date_to: ToOpt = None,
    min_score: MinOpt = None, max_score: MaxOpt = None, failed_item: FailedOpt = None,
    flag: FlagOpt = None, critical: CriticalOpt = False,
) -> None:
    """Export scored calls (one row per call), item scores or findings as CSV or Parquet."""
    from qa.export import EXPORT_FORMATS, write_export
    from qa.store import EXPORT_TABLES

    if format not in EXPORT_FORMATS:
        raise _fail(f"--format must be csv or parquet, not {format!r}")
    if table not in EXPORT_TABLES:
        raise _fail(f"--table must be one of {', '.join(EXPORT_TABLES)}, not {table!r}")
    where = _call_filter(agent, team, queue, rubric, date_from, date_to, min_score, max_score,
                         failed_item, flag, critical)
    database = _open_db(db)
    try:
        count = write_export(database, str(out_path), format, table, where)
    except QAError as exc:
        raise _fail(str(exc), 1)
    if str(out_path) != "-":
        err.print(f"wrote {count} rows to {out_path}", highlight=False)
# --- asr commands ---------------------------------------------------------------------

def _transcriber(model: Optional[str], language: str, agent_channel: str,
                 compute_type: str = "float32", engine: str = "faster-whisper"):
    from qa.transcribe import TranscribeOptions, make_transcriber

    try:
        return make_transcriber(TranscribeOptions(engine=engine, model=model, language=language,
                                                  agent_channel=agent_channel,
                                                  compute_type=compute_type))
    except QAError as exc:
        raise _fail(str(exc))


@app.command()
def transcribe(
    files: list[Path] = typer.Argument(..., help="Recordings (wav, mp3, m4a, ogg, flac, ...) or folders."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for one transcript JSON per call."),
    model: Optional[str] = typer.Option(None, "--model", help="faster-whisper: a CTranslate2 Whisper "
                                        "directory (default: the installed weight package); "
                                        "openai-whisper: a .pt checkpoint file (qa convert-weights)."),
    language: str = typer.Option("auto", "--language", help="auto, zh or en."),
    agent_channel: str = typer.Option("left", "--agent-channel",
                                      help="Which channel of a 2-channel recording is the agent."),
    compute_type: str = typer.Option("float32", "--compute-type", help="float32 or int8 (faster-whisper)."),
    engine: str = typer.Option("faster-whisper", "--engine",
                               help="faster-whisper (default) or openai-whisper (needs the openai extra)."),
) -> None:
    """Transcribe recordings offline with Whisper into transcript JSON (roles, times,
    Simplified text, raw engine text, words). A bad file is named on stderr, the others
    are still transcribed; exit 2 when any failed."""
    from qa.audio import audio_files
    from qa.transcripts import write_transcript

    transcriber = _transcriber(model, language, agent_channel, compute_type, engine)
    written: set[str] = set()
    bad = 0
    for path in audio_files(files):
        try:
            result = transcriber.transcribe(path)
        except QAError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            bad += 1
            continue
        name = result.transcript.call_id
        while name in written:
            name += "_"
        written.add(name)
        target = write_transcript(result.transcript, out_dir / f"{name}.json")
        t = result.transcript
        err.print(f"ok {path} -> {target} ({len(t.segments)} segments, {t.call.duration_s:.1f} s, "
                  f"{t.language})", highlight=False)
    if bad:
        raise typer.Exit(2)


def score_audio(paths: list[Path], rubric: str, format: str, redact_pii: bool,
                model: Optional[str], language: str, agent_channel: str,
                engine: str = "faster-whisper") -> None:
    """`qa score --audio`: transcribe each recording, then score it with the audio's
    voice activity for the silence and overlap checks."""
    from qa.audio import audio_files

    try:
        rubrics = RubricChooser(rubric)
    except QAError as exc:
        raise _fail(str(exc))
    transcriber = _transcriber(model, language, agent_channel, engine=engine)
    bad = 0
    for path in audio_files(paths):
        try:
            result = transcriber.transcribe(path)
            loaded = rubrics.for_language(result.transcript.language)
            card = score_transcript(loaded, result.transcript, voice=result.voice)
        except QAError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            bad += 1
            continue
        _emit_card(card, loaded, format, redact_pii)
    if bad:
        raise typer.Exit(2)


@app.command("convert-weights")
def convert_weights(
    out_path: Path = typer.Option(..., "--out", "-o", help="The openai-whisper checkpoint to write (.pt)."),
    model: Optional[str] = typer.Option(None, "--model", help="A CTranslate2 Whisper directory "
                                        "(default: the installed weight package)."),
) -> None:
    """Write an openai-whisper checkpoint (.pt) of the CTranslate2 Whisper weights, for
    `qa transcribe --engine openai-whisper --model FILE.pt`. Needs torch."""
    from qa.checkpoint import convert_model_dir
    from qa.weights import resolve_model

    try:
        source = resolve_model(model)
        dims = convert_model_dir(source.path, out_path)
    except QAError as exc:
        raise _fail(str(exc))
    err.print(f"wrote {out_path} from {source.label} ({dims['n_audio_layer']}+"
              f"{dims['n_text_layer']} layers, width {dims['n_text_state']}, "
              f"{dims['n_vocab']} tokens)", highlight=False)
# --- classifier commands ---

def _fail_plain(message: str, code: int = 2) -> typer.Exit:
    # File names and labels are shown as given: no rich markup or :emoji: codes in them.
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, emoji=False)
    return typer.Exit(code)


def _load_task_model(model: str):
    from qa.classify import TextModel
    from qa.models import ModelDirectory, load_model

    path = Path(model)
    loaded = load_model(path) if path.is_dir() or path.exists() else None
    if loaded is None:
        try:
            loaded = ModelDirectory()[model]
        except KeyError as exc:
            raise _fail_plain(f"{model}: not a model directory, and {exc.args[0]}")
    if not isinstance(loaded, TextModel):
        raise _fail_plain(f"{model}: not a task model (complaint_risk, customer_emotion, call_reason)")
    return loaded


@app.command()
def train(
    task: str = typer.Option(..., "--task", help="complaint_risk, customer_emotion or call_reason."),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled CSV (text,label) or JSONL."),
    from_db: Optional[Path] = typer.Option(None, "--from-db",
                                           help="A callqa database: learn from reviewers' labels."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Model directory (default models/TASK)."),
    positive: Optional[str] = typer.Option(None, "--positive",
                                           help="Two-class tasks: the data label that means the "
                                                "task's positive label (e.g. negative -> high)."),
    c: Optional[float] = typer.Option(None, "--c", help="SVM regularisation C (default 0.3)."),
    tune: bool = typer.Option(False, "--tune", help="Choose C by 3-fold cross-validation."),
) -> None:
    """Train a classifier and write model.skops + card.json, with held-out figures."""
    from qa.labelled import read_db_labels, read_labelled
    from qa.training import train_and_save

    if (data is None) == (from_db is None):
        raise _fail_plain("give exactly one of --data FILE or --from-db DB")
    try:
        rows = read_labelled(data) if data is not None else read_db_labels(from_db, task)
        result = train_and_save(task, rows, out_dir or Path("models") / task,
                                positive=positive, c=c, tune=tune)
    except QAError as exc:
        raise _fail_plain(str(exc))
    out.print(f"trained {task} on {result.rows} rows -> {result.directory}", highlight=False)
    if result.held_out is not None:
        _print_comparison(result.held_out, "held out (a fifth of the training rows)")


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="A model directory or a model name."),
    data: Path = typer.Option(..., "--data", help="Labelled CSV (text,label) or JSONL."),
    positive: Optional[str] = typer.Option(None, "--positive",
                                           help="Two-class models: the data label that means the "
                                                "positive class; every other label is negative."),
    format: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Per-class precision/recall/F1, macro-F1, confusion matrix, calibration and (two
    classes) ROC AUC, beside majority-class and naive Bayes baselines. Never trains."""
    from qa.labelled import read_labelled
    from qa.training import evaluate_model

    if format not in ("table", "json"):
        raise _fail_plain(f"--format must be table or json, not {format!r}")
    try:
        loaded = _load_task_model(model)
        comparison = evaluate_model(loaded, read_labelled(data), positive)
    except QAError as exc:
        raise _fail_plain(str(exc))
    if format == "json":
        sys.stdout.write(json.dumps(comparison.as_dict(), ensure_ascii=False) + "\n")
    else:
        _print_comparison(comparison, str(data))


def _print_comparison(comparison, title: str) -> None:
    model = comparison.model
    everyone = (model, *comparison.baselines)
    summary = Table(title=f"{model.name} on {title}: {model.rows} rows", title_justify="left")
    for column in ("", "macro-F1", "accuracy", "ROC AUC", "ECE", "Brier"):
        summary.add_column(column, justify="right" if column else "left")
    for e in everyone:
        summary.add_row(e.name, f"{e.macro_f1:.3f}", f"{e.accuracy:.3f}",
                        "-" if e.roc_auc is None else f"{e.roc_auc:.3f}",
                        f"{e.reliability.ece:.3f}", f"{e.reliability.brier:.3f}")
    out.print(summary)
    per_class = Table(title="per class", title_justify="left")
    for column in ("label", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for label, m in model.per_class.items():
        per_class.add_row(label, f"{m.precision:.3f}", f"{m.recall:.3f}", f"{m.f1:.3f}", str(m.support))
    out.print(per_class)
    confusion = Table(title="confusion (rows: true, columns: predicted)", title_justify="left")
    confusion.add_column("")
    for label in model.labels:
        confusion.add_column(label, justify="right")
    for label, row in zip(model.labels, model.confusion):
        confusion.add_row(label, *map(str, row))
    out.print(confusion)
    rel = model.reliability
    what = "P(positive) vs share positive" if rel.kind == "positive" else "top-label P vs share right"
    out.print(f"reliability ({what}): " + ", ".join(
        f"{b.low:.1f}-{b.high:.1f}: {b.mean_probability:.2f}/{b.observed:.2f} (n={b.count})"
        for b in rel.bins), highlight=False)


@app.command("label-queue")
def label_queue(
    model: str = typer.Argument(..., help="A model directory or a model name."),
    transcript: Path = typer.Option(..., "--transcript", "-t", help="Transcript JSON file or folder."),
    limit: int = typer.Option(50, "--limit", help="How many calls to list."),
) -> None:
    """Calls for reviewers to label next, least certain first (active learning)."""
    from qa.classify import active_learning_order

    try:
        loaded = _load_task_model(model)
        calls = [item for _, item in iter_transcripts(transcript) if not isinstance(item, QAError)]
    except QAError as exc:
        raise _fail_plain(str(exc))
    for call_id, margin in active_learning_order(loaded, calls)[:limit]:
        out.print(f"{call_id}\t{margin:.3f}", highlight=False)


@app.command("failures")
def failures_cmd(
    db: DbOpt = ..., run: Optional[int] = typer.Option(None, "--run", help="Run id (default: the latest)."),
    format: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """The files a batch run could not score, with the stage and the reason, and the recent runs."""
    from qa.store import list_failures, list_runs

    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
    database = _open_db(db)
    rows = list_failures(database, run)
    if format == "json":
        return _print_json_lines(rows)
    runs = Table(title="recent runs", title_justify="left")
    for column in ("run", "started", "status", "rubric", "total", "scored", "skipped", "failed", "seconds"):
        runs.add_column(column)
    for r in list_runs(database, limit=5):
        runs.add_row(str(r["run_id"]), (r["started_at"] or "")[:19], r["status"],
                     f"{r['rubric_id']} {r['rubric_version']}", *(str(r[k] if r[k] is not None else "")
                     for k in ("total", "scored", "skipped", "failed", "seconds")))
    out.print(runs)
    table = Table(title=f"{len(rows)} failures", title_justify="left")
    for column in ("stage", "file", "reason"):
        table.add_column(column, overflow="fold")
    for f in rows:
        table.add_row(f["stage"], f["path"], f["reason"])
    out.print(table)

# --- ui commands ---
# (qa users / qa ui: logic in qa.store, qa.users and qa.uiserver)

users_app = typer.Typer(help="Users of the reviewer UI.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Sign-in name, e.g. wang.min"),
    role: str = typer.Option(..., "--role", help="reviewer, lead, trainer, agent or admin."),
    db: Path = typer.Option(Path("qa.db"), "--db", help="The results database."),
    agent_id: Optional[str] = typer.Option(None, "--agent-id",
                                           help="For an agent: the agent id whose calls they see."),
    team: Optional[str] = typer.Option(None, "--team", help="The user's team."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from standard input."),
    replace: bool = typer.Option(False, "--replace", help="Change an existing user."),
) -> None:
    """Add a user (the password is stored as a salted scrypt hash, never as text)."""
    from qa.store import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    database = _open_db(db, create=True)
    try:
        add_user(database, name, role, password, agent_id=agent_id, team=team,
                 created_by="cli", replace=replace)
    except ValueError as exc:
        raise _fail(str(exc))
    err.print(f"user {name} ({role}) saved in {db}", highlight=False, markup=False)


@users_app.command("list")
def users_list(db: Path = typer.Option(Path("qa.db"), "--db", help="The results database.")) -> None:
    """The users of the reviewer UI."""
    from qa.store import list_users

    table = Table(title=f"users in {db}", title_justify="left")
    for column in ("name", "role", "agent_id", "team", "created_at"):
        table.add_column(column)
    for user in list_users(_open_db(db)):
        table.add_row(*(str(user[c] or "") for c in ("name", "role", "agent_id", "team",
                                                      "created_at")))
    out.print(table)


@app.command()
def ui(
    db: Path = typer.Option(Path("qa.db"), "--db", help="The results database (from qa batch)."),
    demo: bool = typer.Option(False, "--demo", help="Sign in as a demo reviewer; no users needed."),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
    open_browser: bool = typer.Option(False, "--open", help="Open a browser on the UI."),
) -> None:
    """Start the reviewer UI (Streamlit) on localhost. Refuses a missing database, and a
    database without users unless --demo."""
    import subprocess

    from qa.uiserver import prepare

    try:
        launch = prepare(db, demo=demo, port=port, open_browser=open_browser)
    except QAError as exc:
        raise _fail(str(exc), 1)
    err.print(f"callqa UI on http://127.0.0.1:{port} ({db}{', demo' if demo else ''}); "
              "Ctrl-C stops it", highlight=False, markup=False)
    if os.name == "posix":
        # Become Streamlit, so a stop signal sent to `qa ui` (a supervisor's SIGTERM, not
        # only Ctrl-C) reaches the server instead of leaving it running without a parent.
        sys.stderr.flush()
        os.execve(launch.argv[0], launch.argv, launch.env)
    try:
        code = subprocess.call(launch.argv, env=launch.env)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)



def _emit_card(card: Scorecard, loaded: Rubric, format: str, redact_pii: bool) -> None:
    """One scorecard on stdout: a JSON line or the table (shared by --transcript and --audio)."""
    if format == "json":
        data = scorecard_to_dict(card)
        sys.stdout.write(json.dumps(redact_scorecard(data) if redact_pii else data,
                                    ensure_ascii=False) + "\n")
    else:
        _print_table(card, loaded)


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
