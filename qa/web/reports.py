"""Reports: a coaching report previewed as HTML, with its PDF, Excel and CSV downloads,
for an agent, a team or the whole centre. Agents see only their own report."""

from __future__ import annotations

import datetime as dt

import streamlit as st
import streamlit.components.v1 as components

from qa.errors import QAError
from qa.report.data import EmptyReport, Report, build_report
from qa.report.period import parse_period
from qa.report.render import RENDERERS, render_html
from qa.report.source import frames_for_period
from qa.users import User
from qa.web import reads
from qa.web.session import connections, db_key

MIME = {"pdf": "application/pdf", "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "html": "text/html"}


@st.cache_data(ttl=reads.TTL, show_spinner="Building the report…")
def _report(key: str, scope: str, subject: str | None, period_text: str) -> Report:
    period = parse_period(period_text)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return build_report(frames_for_period(connections(key).get(), period), scope, subject, period,
                        generated_at=stamp)


def _default_period(last_call_date: str | None) -> str:
    """The month of the latest scored call (else last month)."""
    if last_call_date:
        return last_call_date[:7]
    last_month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def render(user: User) -> None:
    st.title("Reports")
    choices = reads.choices(db_key())
    if user.own_calls_only:
        scope, subject = "agent", user.agent_id
        st.caption(f"Your own coaching report (agent {subject}).")
    else:
        scope = st.radio("Report on", ("agent", "team", "center"), horizontal=True, key="r_scope",
                         format_func={"agent": "an agent", "team": "a team",
                                      "center": "the whole centre"}.get)
        subject = None
        if scope == "agent":
            agents = choices["agents"]
            subject = st.selectbox("Agent", [a[0] for a in agents], key="r_agent",
                                   format_func=dict((a[0], f"{a[1] or ''} ({a[0]})")
                                                    for a in agents).get)
        elif scope == "team":
            subject = st.selectbox("Team", choices["teams"], key="r_team")
    period_text = st.text_input("Period", value=_default_period(choices["dates"][1]), key="r_period",
                                help="2026-11 (month), 2026-W47 (ISO week), 2026-Q4, or a day")
    if scope != "center" and not subject:
        st.info("No scored calls yet.")
        return
    try:
        report = _report(db_key(), scope, subject, period_text)
    except (QAError, EmptyReport) as exc:
        st.warning(str(exc))
        return
    cols = st.columns(3)
    for col, fmt, label in zip(cols, ("pdf", "xlsx", "csv"), ("PDF", "Excel", "CSV")):
        name = f"{scope}-{subject or 'center'}-{report.period.label}.{fmt}"
        # rendered only when clicked (a PDF takes seconds), on Streamlit's own thread
        col.download_button(f"Download {label}", data=lambda f=fmt: RENDERERS[f](report),
                            file_name=name, mime=MIME[fmt], key=f"download_{fmt}",
                            on_click="ignore")
    components.html(render_html(report), height=900, scrolling=True)
