"""Sampling plan and assignment: a QA lead draws N random calls per agent per week plus
every critical fail and high-risk call, and hands them to reviewers."""

from __future__ import annotations

import streamlit as st

from qa import store
from qa.sampling import Candidate, SamplingPlan, draw_sample, spread
from qa.users import User
from qa.web import reads
from qa.web.session import database, db_key, reviewer_names, write

ALL = "(all)"


def _plan_form() -> tuple[SamplingPlan, store.CallFilter] | None:
    teams = reads.choices(db_key())["teams"]
    with st.form("sampling_plan"):
        cols = st.columns(3)
        date_from = cols[0].date_input("From", value=None, key="sp_from")
        date_to = cols[0].date_input("To", value=None, key="sp_to")
        team = cols[1].selectbox("Team", [ALL, *teams], key="sp_team")
        per_week = cols[1].number_input("Random calls per agent per week", 0, 100, 2,
                                        key="sp_n")
        critical = cols[2].checkbox("Every critical fail", True, key="sp_critical")
        risky = cols[2].checkbox("Every high-risk call (abuse, complaint)", True, key="sp_risk")
        threshold = cols[2].slider("Complaint-model threshold", 0.0, 1.0, 0.7, key="sp_thr")
        seed = cols[1].text_input("Seed (same seed, same sample)", "callqa", key="sp_seed")
        submitted = st.form_submit_button("Draw sample")
    if submitted:
        st.session_state["sp_drawn"] = (
            SamplingPlan(int(per_week), critical, risky, float(threshold), seed or "callqa"),
            store.CallFilter(team=None if team == ALL else team,
                             date_from=date_from.isoformat() if date_from else None,
                             date_to=date_to.isoformat() if date_to else None))
    return st.session_state.get("sp_drawn")


def render(user: User) -> None:
    st.title("Sampling and assignment")
    db = database()
    drawn = _plan_form()
    if drawn is None:
        st.info("Set the plan and draw a sample.")
        return
    plan, where = drawn
    candidates = [Candidate(r["call_id"], r["agent_id"], r["call_date"], r["critical_failed"],
                            tuple(r["flags"]), r["risk"])
                  for r in store.sampling_candidates(db, where)]
    sample = draw_sample(candidates, plan)
    st.caption(f"{len(sample)} of {len(candidates)} calls selected")
    st.dataframe([{"call": s.call_id, "why": s.reason} for s in sample], hide_index=True,
                 width="stretch")
    reviewers = reviewer_names(db)
    with st.form("sampling_assign"):
        people = st.multiselect("Assign to reviewers (in turn)", reviewers, key="sp_people")
        submitted = st.form_submit_button(f"Assign {len(sample)} calls")
    if submitted:
        reasons = {s.call_id: s.reason for s in sample}

        def assign() -> int:
            pairs = spread([s.call_id for s in sample], people)
            for reason in sorted(set(reasons.values())):
                store.assign_calls(db, [p for p in pairs if reasons[p[0]] == reason],
                                   user.name, reason=reason)
            return len(pairs)

        assigned = write(assign)
        if assigned is not None:
            st.success(f"Assigned {assigned} calls to {', '.join(people)}.")
