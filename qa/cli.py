"""The `qa` command line. It parses options, calls qa.* functions and renders; the logic
lives in the library. Exit codes: 0 the command ran (whatever the scores), 1 the run
itself failed, 2 bad input or usage."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

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
    transcript: Path = typer.Option(..., "--transcript", "-t",
                                    help="A transcript JSON file, or a folder of them."),
    rubric: str = typer.Option(AUTO, "--rubric", "-r",
                               help="Rubric id (bundled or on QA_RUBRICS_PATH) or YAML path; "
                                    "auto: zh-bank-hotline or en-card-services by language."),
    format: str = typer.Option("table", "--format", "-f", help="table or json (one object a line)."),
    redact_pii: bool = typer.Option(True, "--redact/--no-redact",
                                    help="Mask card, ID and phone numbers and secrets in evidence."),
) -> None:
    """Score call transcripts against a rubric."""
    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
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
            card = score_transcript(loaded, item)
            if format == "json":
                data = scorecard_to_dict(card)
                sys.stdout.write(json.dumps(redact_scorecard(data) if redact_pii else data,
                                            ensure_ascii=False) + "\n")
            else:
                _print_table(card, loaded)
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
    try:
        code = subprocess.call(launch.argv, env=launch.env)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)



def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
