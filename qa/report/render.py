"""One report, four renderers: HTML (Jinja2), PDF (WeasyPrint from that HTML, the CJK font
embedded), XLSX (openpyxl, native charts over data sheets) and CSV (the per-call table).

`write_report` writes through a temporary file in the target folder and renames it into
place, so a failure leaves no partial file behind."""

from __future__ import annotations

import base64
import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Literal

from qa.errors import InputError
from qa.report.data import Report

Format = Literal["html", "pdf", "xlsx", "csv"]
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "csv")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qa.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.globals.update(pct=_pct, rate=_rate, signed=_signed, clock=_clock)
    return env


def render_html(report: Report, charts: dict[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page (charts inlined as PNG data)."""
    from qa.report.charts import all_charts

    images = all_charts(report) if charts is None else charts
    uris = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for name, png in images.items()}
    return _environment().get_template("report.html.j2").render(
        r=report, h=report.headline, charts=uris)


def render_pdf(report: Report) -> bytes:
    import logging

    from weasyprint import HTML

    # WeasyPrint logs every CSS property it does not support; they are not our problem.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=render_html(report)).write_pdf()


def render_csv(report: Report) -> bytes:
    buffer = io.StringIO()
    columns = ("call_id", "started_at", "agent_id", "agent_name", "team", "score", "stars",
               "passed", "critical_failed", "rubric")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(report.calls_table)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def render_xlsx(report: Report) -> bytes:
    """A workbook a trainer can filter: summary, items (with a native bar chart), trend
    (with a line chart), calls, excerpts, notes, disputes, and league for teams."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    h = report.headline
    rows = [("Report", report.title), ("Period", report.period.label),
            ("From", report.period.start.isoformat()), ("To", report.period.end.isoformat()),
            ("Calls scored", h.calls), ("Average score", h.mean_score),
            ("Median score", h.median_score), ("Pass rate", h.pass_rate),
            ("Critical fails", h.critical_fails),
            (f"Average in {report.previous.label}", h.previous_mean),
            ("Trend (points)", h.trend),
            (f"Average of {h.comparison_label or 'comparison'}", h.comparison_mean),
            ("Rubric versions", ", ".join(report.rubric_versions)),
            ("Generated", report.generated_at)]
    rows += [(f"{stars} stars", n) for stars, n in h.stars.items()]
    rows += [(f"Score band {band}", n) for band, n in h.distribution]
    if report.kpis:
        k = report.kpis
        rows += [("First-contact resolution", k.first_contact_resolution),
                 ("Complaint rate", k.complaint_rate), ("Critical-fail rate", k.critical_fail_rate),
                 ("Reviewed share", k.reviewed_share)]
    for row in rows:
        summary.append(row)
    for cell in summary["A"]:
        cell.font = Font(bold=True)
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 40

    items = book.create_sheet("Items")
    items.append(("Item", "Item id", "Calls", "Passed", "Pass rate", h.comparison_label or "Comparison",
                  "Points lost", "Should say"))
    for i in report.items:
        items.append((i.name, i.item_id, i.applicable, i.passed, i.pass_rate, i.comparison_rate,
                      i.points_lost, i.should_say))
    if report.items:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Pass rate by item"
        chart.add_data(Reference(items, min_col=5, max_col=6, min_row=1,
                                 max_row=len(report.items) + 1), titles_from_data=True)
        chart.set_categories(Reference(items, min_col=1, min_row=2, max_row=len(report.items) + 1))
        chart.height, chart.width = 9 + 0.4 * len(report.items), 18
        items.add_chart(chart, "J2")

    trend = book.create_sheet("Trend")
    trend.append(("Day or week", "Calls", "Average score"))
    for p in report.trend:
        trend.append((p.label, p.calls, p.mean_score))
    if report.trend:
        line = LineChart()
        line.title = "Score trend"
        line.add_data(Reference(trend, min_col=3, min_row=1, max_row=len(report.trend) + 1),
                      titles_from_data=True)
        line.set_categories(Reference(trend, min_col=1, min_row=2, max_row=len(report.trend) + 1))
        trend.add_chart(line, "E2")

    calls = book.create_sheet("Calls")
    columns = ("call_id", "started_at", "agent_id", "agent_name", "team", "score", "stars",
               "passed", "critical_failed", "rubric")
    calls.append(columns)
    for row in report.calls_table:
        calls.append(tuple(row[c] for c in columns))

    excerpts = book.create_sheet("Excerpts")
    excerpts.append(("Item", "Kind", "Call", "Started", "Score", "Detail", "Transcript"))
    for i in report.items:
        for kind, group in (("missed", i.misses), ("example", i.best)):
            for e in group:
                text = "\n".join(f"[{_clock(t)}] {who}: {line}" for t, who, line in e.lines)
                excerpts.append((i.name, kind, e.call_id, e.started_at, e.score, e.detail, text))

    for title, records in (("Notes", report.notes), ("Disputes", report.disputes)):
        sheet = book.create_sheet(title)
        if records:
            keys = list(records[0])
            sheet.append(keys)
            for record in records:
                sheet.append(tuple(record[k] for k in keys))
        else:
            sheet.append((f"No {title.lower()} in this period",))

    if report.league:
        league = book.create_sheet("League")
        league.append(("Rank", "Agent id", "Agent", "Team", "Calls", "Average", "Pass rate",
                       "Critical fails", "Abusive-customer calls"))
        for r in report.league:
            league.append((r.rank, r.agent_id, r.agent_name, r.team, r.calls, r.mean_score,
                           r.pass_rate, r.critical_fails, r.abuse_calls))

    distributions = book.create_sheet("Silence and rate")
    distributions.append(("Longest silence per call (s)", "Agent speech rate (per minute)"))
    for k in range(max(len(report.silence), len(report.speech_rate))):
        distributions.append((report.silence[k] if k < len(report.silence) else None,
                              report.speech_rate[k] if k < len(report.speech_rate) else None))

    # Fixed document properties: the same data gives the same workbook contents.
    book.properties.creator = "callqa"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


RENDERERS = {"html": lambda r: render_html(r).encode("utf-8"), "pdf": render_pdf,
             "xlsx": render_xlsx, "csv": render_csv}


def check_writable(path: Path) -> None:
    """Raise InputError before any work when `path` cannot be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(str(path), "", "is a folder, not a file name")
    if not folder.is_dir():
        raise InputError(str(path), "", f"folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(str(path), "", f"folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(str(path), "", "file exists and is not writable")


def write_report(report: Report, fmt: str, path: Path) -> Path:
    """Render and write atomically (temporary file, then rename)."""
    if fmt not in RENDERERS:
        raise InputError("--format", "", f"unknown format {fmt!r} (expected {', '.join(FORMATS)})")
    check_writable(path)
    content = RENDERERS[fmt](report)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
