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


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
