"""What the call view shows, computed from store rows: evidence spans per segment, the
transcript as HTML with role colours and highlighted evidence, and the scorecard rows
with every point lost tied to its finding. Pure: no Streamlit, no database."""

from __future__ import annotations

import html
from dataclasses import dataclass

STATUS_ICON = {"pass": "✅", "fail": "❌", "na": "➖", "critical": "⛔"}
# Words, not emoji, inside tables: the grid draws on a canvas whose fonts may lack emoji.
STATUS_WORD = {"pass": "pass", "fail": "FAIL", "na": "N/A", "critical": "CRITICAL"}
ROLE_COLOUR = {"agent": "#1f5fa8", "customer": "#2e7d32", "unknown": "#666666"}
ROLE_LABEL = {"agent": "坐席 agent", "customer": "客户 customer", "unknown": "unknown"}
COACHING_CATEGORIES = ("opening and closing", "identity verification", "courtesy and tone",
                       "compliance", "product knowledge", "call control", "empathy",
                       "well-being", "other")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str
    false_hit: bool = False


def clock(seconds: float | None) -> str:
    """'1:05.3' for 65.3 s; '' for None."""
    if seconds is None:
        return ""
    minutes, rest = divmod(max(0.0, float(seconds)), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def evidence_spans(score: dict, verdicts: dict[int, dict] | None = None) -> dict[int, list[Span]]:
    """Evidence of each failed finding (items and flags) by segment index; findings a
    reviewer marked as false hits are kept, marked `false_hit`."""
    verdicts = verdicts or {}
    out: dict[int, list[Span]] = {}
    findings = [f for item in score["items"] for f in item["findings"]]
    findings += score.get("flag_findings", [])
    for f in findings:
        if f["passed"] is not False or f["segment_index"] is None or f["char_start"] is None:
            continue
        verdict = verdicts.get(f["finding_id"], {}).get("verdict")
        out.setdefault(f["segment_index"], []).append(
            Span(f["char_start"], f["char_end"], f["item_id"] or f["check_type"],
                 verdict == "false_hit"))
    return out


def highlighted(text: str, spans: list[Span] | list[tuple[int, int]]) -> str:
    """HTML of a segment's text with the evidence spans marked (overlaps merged into the
    first span)."""
    marks = [s if isinstance(s, Span) else Span(s[0], s[1], "") for s in spans]
    out, at = [], 0
    for span in sorted(marks, key=lambda s: (s.start, s.end)):
        start, end = max(span.start, 0), min(span.end, len(text))
        if start < at or start >= end:
            continue
        out.append(html.escape(text[at:start]))
        style = " style='text-decoration:line-through;opacity:.6'" if span.false_hit else ""
        title = (f" title='{html.escape(span.label)}{' (false hit)' if span.false_hit else ''}'"
                 if span.label else "")
        out.append(f"<mark{title}{style}>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def segment_html(segment: dict, spans: list[Span], *, text_key: str = "text") -> str:
    """One transcript line: time, role (coloured) and text with evidence marked."""
    colour = ROLE_COLOUR.get(segment["speaker"], ROLE_COLOUR["unknown"])
    text = segment.get(text_key) or segment["text"]
    return (f"<div style='margin:1px 0;border-left:4px solid {colour};padding-left:6px'>"
            f"<span style='color:{colour};font-weight:600'>{clock(segment['start'])} "
            f"{ROLE_LABEL.get(segment['speaker'], segment['speaker'])}</span> "
            f"{highlighted(text, spans)}</div>")


def lost_findings(item: dict) -> list[dict]:
    """The findings that explain an item's lost points (failed ones), or all of them."""
    failed = [f for f in item["findings"] if f["passed"] is False]
    return failed or list(item["findings"])


def _verdict(status: str, points: float, maximum: float) -> str:
    return "N/A" if status == "na" else f"{STATUS_WORD[status]} {points:g}/{maximum:g}"


def scorecard_rows(score: dict, reviewed: dict) -> list[dict]:
    """Per item, in rubric order: section name, item, automatic and final status and
    points, who changed it, the finding that explains it (detail, evidence, time,
    segment). `score` is store.score_detail, `reviewed` store.reviewed_score."""
    sections = {s["id"]: s["name"] for s in score["sections"]}
    final = {i["item_id"]: i for i in reviewed["items"]}
    rows = []
    for item in score["items"]:
        f = next(iter(lost_findings(item)), None)
        done = final.get(item["item_id"], {})
        review = done.get("review")
        rows.append({
            "section": sections.get(item["section_id"], item["section_id"]),
            "item_id": item["item_id"], "item": item["name"],
            "automatic": _verdict(item["status"], item["points"], item["max"]),
            "final": _verdict(done.get("status", item["status"]),
                              done.get("points", item["points"]), item["max"]),
            "changed by": (review or {}).get("reviewer", "") if review and
            review.get("action") == "override" else "",
            "why": f["detail"] if f else "",
            "evidence": f["evidence"] or "" if f else "",
            "at": clock(f["start"]) if f else "",
            "segment": f["segment_index"] if f else None,
            "lost": item["status"] != "na" and item["points"] < item["max"],
            "points lost": 0.0 if item["status"] == "na" else item["max"] - item["points"],
        })
    return rows
