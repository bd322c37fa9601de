"""The review queue (the home page): filters, one page of calls, links to the call view."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from qa import store
from qa.users import User
from qa.web import reads
from qa.web.session import database, db_key, open_call_button, reviewer_names, write

ALL = "(all)"
FLAGS = {"critical fail": ("critical", None), "customer abuse": ("flag", "customer_abuse"),
         "high complaint risk": ("flag", "complaint_intent")}
ORDERS = {"newest first": "date", "lowest score first": "score",
          "least certain first": "uncertain"}
PAGE_SIZE = 50


def _pick(label: str, options: list, key: str, format_func=str):
    return st.selectbox(label, [ALL, *options], key=key,
                        format_func=lambda v: v if v == ALL else format_func(v))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters(user: User) -> tuple[store.CallFilter, str | None, str | None, str]:
    """The filter form; returns (call filter, review status, assigned to, order)."""
    c = reads.choices(db_key())
    agents = dict(c["agents"])
    items = dict(c["items"])
    with st.form("queue_filters"):
        row = st.columns(4)
        with row[0]:
            date_from = st.date_input("From", value=None, key="q_from")
            date_to = st.date_input("To", value=None, key="q_to")
        with row[1]:
            team = _pick("Team", c["teams"], "q_team")
            agent = ALL if user.own_calls_only else _pick(
                "Agent", list(agents), "q_agent", lambda a: f"{a} {agents[a] or ''}")
            queue = _pick("Queue", c["queues"], "q_queue")
        with row[2]:
            rubric = _pick("Rubric", c["rubrics"], "q_rubric")
            low, high = st.slider("Score %", 0, 100, (0, 100), key="q_score")
            failed = _pick("Failed item", list(items), "q_failed",
                           lambda i: f"{i} {items[i] or ''}")
        with row[3]:
            flag = _pick("Flag", list(FLAGS), "q_flag")
            status = _pick("Review status", list(store.REVIEW_STATUSES), "q_status")
            assigned = st.selectbox("Assigned to", ["anyone", "me"], key="q_assigned")
            order = st.selectbox("Sort", list(ORDERS), key="q_order")
        st.form_submit_button("Apply filters")
    kind, flag_id = FLAGS.get(flag, (None, None))
    where = store.CallFilter(
        agent_id=user.agent_id if user.own_calls_only else (None if agent == ALL else agent),
        team=None if team == ALL else team, queue=None if queue == ALL else queue,
        rubric_id=None if rubric == ALL else rubric,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        min_percent=low if low > 0 else None, max_percent=high if high < 100 else None,
        failed_item=None if failed == ALL else failed, flag=flag_id,
        critical_only=kind == "critical")
    return (where, None if status == ALL else status,
            user.name if assigned == "me" else None, ORDERS[order])


def _assign_form(call_ids: list[str], user: User) -> None:
    with st.form("queue_assign", clear_on_submit=True):
        st.markdown("**Assign calls on this page**")
        cols = st.columns([3, 2])
        chosen = cols[0].multiselect("Calls", call_ids, key="qa_calls")
        reviewer = cols[1].selectbox("To reviewer", reviewer_names(database()), key="qa_to")
        submitted = st.form_submit_button("Assign")
    if submitted:
        if not chosen or not reviewer:
            st.error("Choose the calls and a reviewer.")
            return
        write(lambda: store.assign_calls(database(), [(c, reviewer) for c in chosen],
                                         user.name, reason="assigned from the queue"),
              f"{len(chosen)} calls assigned to {reviewer}")


def render(user: User) -> None:
    st.title("Review queue")
    where, status, assigned, order = filters(user)
    page = st.session_state.get("q_page", 1)
    rows, total = reads.queue_page(db_key(), where, status, assigned, order, PAGE_SIZE,
                                   (page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    st.caption(f"{total} calls match · page {min(page, pages)} of {pages}")
    if not rows:
        st.info("No calls match these filters." if total == 0 else "No calls on this page.")
    else:
        table = [{
            "open": f"Call?call_id={r['call_id']}", "call": r["call_id"],
            "started": (r["started_at"] or "")[:16].replace("T", " "),
            "agent": f"{r['agent_id'] or ''} {r['agent_name'] or ''}".strip(),
            "team": r["team"], "queue": r["queue"], "score %": r["percent"],
            "critical": "⛔" if r["critical_failed"] else "",
            "flags": ", ".join(r["flags"]), "assigned": r["assigned_to"] or "",
            "reviews": r["reviews"], "open disputes": r["open_disputes"] or 0,
            "certainty": None if r["uncertainty"] is None else round(r["uncertainty"] * 2, 2),
        } for r in rows]
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "open": st.column_config.LinkColumn("open", display_text="open ↗"),
            "score %": st.column_config.NumberColumn(format="%.1f")})
        open_call_button([r["call_id"] for r in rows], "queue")
        if user.can("assign"):
            _assign_form([r["call_id"] for r in rows], user)
    if pages > 1:
        st.number_input("Page", 1, pages, key="q_page")
