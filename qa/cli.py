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
    model: Optional[str] = typer.Option(None, "--model", help="With --audio: a CTranslate2 Whisper directory."),
    language: str = typer.Option("auto", "--language", help="With --audio: auto, zh or en."),
    agent_channel: str = typer.Option("left", "--agent-channel", help="With --audio: left or right."),
) -> None:
    """Score call transcripts (or recordings, with --audio) against a rubric."""
    if format not in ("table", "json"):
        raise _fail(f"--format must be table or json, not {format!r}")
    if audio:
        return score_audio(audio, rubric, format, redact_pii, model, language, agent_channel)
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


# --- asr commands ---------------------------------------------------------------------

def _transcriber(model: Optional[str], language: str, agent_channel: str,
                 compute_type: str = "float32"):
    from qa.transcribe import TranscribeOptions, make_transcriber

    try:
        return make_transcriber(TranscribeOptions(model=model, language=language,
                                                  agent_channel=agent_channel,
                                                  compute_type=compute_type))
    except QAError as exc:
        raise _fail(str(exc))


@app.command()
def transcribe(
    files: list[Path] = typer.Argument(..., help="Recordings (wav, mp3, m4a, ogg, flac, ...) or folders."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for one transcript JSON per call."),
    model: Optional[str] = typer.Option(None, "--model", help="A CTranslate2 Whisper directory "
                                        "(default: the installed weight package)."),
    language: str = typer.Option("auto", "--language", help="auto, zh or en."),
    agent_channel: str = typer.Option("left", "--agent-channel",
                                      help="Which channel of a 2-channel recording is the agent."),
    compute_type: str = typer.Option("float32", "--compute-type", help="float32 or int8."),
) -> None:
    """Transcribe recordings offline with Whisper into transcript JSON (roles, times,
    Simplified text, raw engine text, words). A bad file is named on stderr, the others
    are still transcribed; exit 2 when any failed."""
    from qa.audio import audio_files
    from qa.transcripts import write_transcript

    transcriber = _transcriber(model, language, agent_channel, compute_type)
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
                model: Optional[str], language: str, agent_channel: str) -> None:
    """`qa score --audio`: transcribe each recording, then score it with the audio's
    voice activity for the silence and overlap checks."""
    from qa.audio import audio_files

    try:
        rubrics = RubricChooser(rubric)
    except QAError as exc:
        raise _fail(str(exc))
    transcriber = _transcriber(model, language, agent_channel)
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
