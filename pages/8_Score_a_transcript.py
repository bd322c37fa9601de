"""Score one transcript without the database: pick a bundled sample or upload a
transcript JSON, see its scorecard by section with every point lost explained by its
finding, and the transcript with the evidence highlighted. Nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from qa.callview import ROLE_COLOUR, STATUS_ICON, highlighted
from qa.errors import QAError
from qa.rubric import Rubric, score_transcript
from qa.rubrics import RubricChooser
from qa.text import redact
from qa.transcripts import parse_transcript_json
from qa.web.session import require_user

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "transcripts"


@st.cache_resource
def rubric_chooser() -> RubricChooser:
    return RubricChooser()


def show_scorecard(card, rubric: Rubric, transcript) -> None:
    verdict = "CRITICAL FAIL" if card.critical_failed else ("PASS" if card.passed else "BELOW PASS MARK")
    cols = st.columns(4)
    cols[0].metric("Score", f"{card.total:g} / {card.max_total:g}")
    cols[1].metric("Percent", f"{card.percent:.1f}%")
    cols[2].metric("Stars", "★" * card.stars + "☆" * (5 - card.stars))
    cols[3].metric("Verdict", verdict)
    if card.critical_failed:
        st.error(f"A critical item failed: the call scores 0 (calculated score "
                 f"{card.calculated_total:g}/{card.max_total:g}).")
    for flag in card.flags:
        st.warning(f"Flag — {flag.name}: {flag.findings[0].detail}")
    rows = []
    for item in card.items:
        failed = [f for f in item.findings if f.passed is False]
        shown = failed[0] if failed else (item.findings[0] if item.findings else None)
        rows.append({
            "": STATUS_ICON[item.status], "section": next(s.name for s in card.sections
                                                        if s.section_id == item.section_id),
            "item": item.name, "points": "-" if item.status == "na" else f"{item.points:g}/{item.max:g}",
            "why": (shown.detail if shown else ""),
            "evidence": redact(shown.evidence) if shown and shown.evidence else "",
            "at (s)": shown.start if shown and shown.start is not None else None,
        })
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"Rubric {rubric.id} {rubric.version}")

    st.subheader("Transcript")
    evidence: dict[int, list[tuple[int, int]]] = {}
    for item in card.items:
        for f in item.findings:
            if f.passed is False and f.segment_index is not None and f.char_start is not None:
                evidence.setdefault(f.segment_index, []).append((f.char_start, f.char_end))
    for index, segment in enumerate(transcript.segments):
        colour = ROLE_COLOUR.get(segment.speaker, "#666666")
        text = highlighted(redact(segment.text), evidence.get(index, []))
        st.markdown(
            f"<div style='margin:2px 0'><span style='color:{colour};font-weight:600'>"
            f"{segment.start:7.1f}s {segment.speaker}</span> {text}</div>",
            unsafe_allow_html=True)


def main() -> None:
    st.set_page_config(page_title="callqa — score a transcript", layout="wide")
    require_user()
    st.title("Score a transcript")
    samples = sorted(p.name for p in SAMPLES.glob("*.json"))
    source = st.radio("Transcript", ["Bundled sample", "Upload"], horizontal=True)
    text, name = None, None
    if source == "Bundled sample":
        if not samples:
            st.info("No bundled samples found.")
            return
        name = st.selectbox("Sample call", samples)
        text = (SAMPLES / name).read_text(encoding="utf-8")
    else:
        upload = st.file_uploader("Transcript JSON", type=["json"])
        if upload is None:
            st.info("Upload a transcript JSON in the callqa format (see the README).")
            return
        name = upload.name
        text = upload.getvalue().decode("utf-8", errors="replace")
    try:
        transcript = parse_transcript_json(text, name)
        rubric = rubric_chooser().for_language(transcript.language)
        card = score_transcript(rubric, transcript)
    except QAError as exc:
        st.error(f"Cannot score this call: {exc}")
        return
    except json.JSONDecodeError as exc:  # pragma: no cover - parse_transcript_json wraps it
        st.error(f"Cannot read this file: {exc}")
        return
    st.header(f"Call {transcript.call_id}")
    meta = transcript.call
    st.caption(" · ".join(x for x in (meta.agent_name, meta.agent_id, meta.team, meta.queue,
                                      meta.started_at) if x))
    show_scorecard(card, rubric, transcript)


main()
