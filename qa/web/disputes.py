"""Disputes: agents and leads dispute an item from the call view; a QA lead accepts or
rejects it here; the final score keeps both the automatic and the reviewed value."""

from __future__ import annotations

import streamlit as st

from qa import store
from qa.errors import QAError
from qa.users import User
from qa.web.session import database, open_call_button, write


def _item_values(db, call_id: str, item_id: str) -> tuple[str, str]:
    try:
        final = store.reviewed_score(db, call_id)
    except QAError:
        return "", ""
    item = next((i for i in final["items"] if i["item_id"] == item_id), None)
    if item is None:
        return "", ""
    return (f"{item['automatic_points']:g}/{item['max']:g}",
            "N/A" if item["status"] == "na" else f"{item['points']:g}/{item['max']:g}")


def render(user: User) -> None:
    st.title("Disputes")
    db = database()
    open_only = st.toggle("Open disputes only", value=True, key="dp_open_only")
    disputes = store.list_disputes(db, agent_id=user.agent_id if user.own_calls_only else None,
                                   open_only=open_only)
    if not disputes:
        st.info("No disputes." if not open_only else "No open disputes.")
    rows = []
    for d in disputes:
        automatic, final = _item_values(db, d["call_id"], d["item_id"])
        rows.append({"#": d["dispute_id"], "open": f"Call?call_id={d['call_id']}",
                     "call": d["call_id"], "agent": d["agent_id"], "item": d["item_id"],
                     "raised by": f"{d['raised_by']} ({d['role']})", "comment": d["comment"],
                     "status": d["outcome"] or "open", "decided by": d["decided_by"] or "",
                     "decision": d["decision_comment"] or "", "automatic": automatic,
                     "final": final})
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", column_config={
            "open": st.column_config.LinkColumn("open", display_text="open ↗")})
        open_call_button(sorted({r["call"] for r in rows}), "disputes")
    pending = [d for d in disputes if d["outcome"] is None]
    if not user.can("decide") or not pending:
        return
    labels = {d["dispute_id"]: f"#{d['dispute_id']} {d['call_id']} · {d['item_id']} · "
              f"{d['raised_by']}: {d['comment'][:60]}" for d in pending}
    with st.form("decide_dispute", clear_on_submit=True):
        st.markdown("**Decide a dispute**")
        dispute_id = st.selectbox("Dispute", list(labels), format_func=labels.get,
                                  key="dd_dispute")
        outcome = st.radio("Outcome", ["accepted", "rejected"], horizontal=True,
                           key="dd_outcome")
        points = st.number_input("Points for the item when accepted", min_value=0.0,
                                 value=None, step=1.0, key="dd_points")
        comment = st.text_area("Comment", key="dd_comment")
        submitted = st.form_submit_button("Save decision")
    if submitted:
        chosen = next(d for d in pending if d["dispute_id"] == dispute_id)
        if chosen["raised_by"] == user.name:
            st.error("You raised this dispute: another QA lead decides it.")
            return
        if not comment.strip():
            st.error("Not saved: a decision needs a comment for the agent.")
            return
        if outcome == "accepted" and points is None:  # accepted as disputed: full points
            points = next((i["max"] for i in store.reviewed_score(db, chosen["call_id"])["items"]
                           if i["item_id"] == chosen["item_id"]), None)
        write(lambda: store.decide_dispute(db, dispute_id, user.name, outcome,
                                           comment.strip(), points),
              f"dispute #{dispute_id} {outcome}")
