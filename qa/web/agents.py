"""Agents and teams: score trend, item pass rates against the team, top missed items with
example calls, customer-abuse exposure per shift, speech rate and silence against the
agent's own baseline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa import store
from qa.insights import SHIFTS, against_baseline, talk_rows
from qa.users import User
from qa.web import reads
from qa.web.session import database, db_key

ALL = "(all)"


def _choose(user: User) -> tuple[str | None, str | None]:
    c = reads.choices(db_key())
    if user.own_calls_only:
        return None, user.agent_id
    cols = st.columns(2)
    team = cols[0].selectbox("Team", [ALL, *c["teams"]], key="ag_team")
    names = dict(c["agents"])
    agent = cols[1].selectbox("Agent", [ALL, *names], key="ag_agent",
                              format_func=lambda a: a if a == ALL else f"{a} {names[a] or ''}")
    return (None if team == ALL else team), (None if agent == ALL else agent)


def _trend(team: str | None, agent: str | None) -> None:
    st.subheader("Score trend (mean % per week)")
    rows = reads.trend(db_key(), store.CallFilter(team=team, agent_id=agent), "agent_id")
    if not rows:
        st.info("No scored calls.")
        return
    frame = pd.DataFrame(rows).pivot_table(index="week", columns="who", values="mean_percent")
    st.line_chart(frame)


def _pass_rates(team: str | None, agent: str | None) -> list[dict]:
    st.subheader("Item pass rates" + (" against the team" if agent else ""))
    mine = reads.pass_rates(db_key(), store.CallFilter(team=team, agent_id=agent))
    if not agent:
        st.dataframe([{"item": r["item_id"], "name": r["name"], "calls": r["applicable"],
                       "pass rate": r["pass_rate"], "points lost": r["points_lost"]}
                      for r in mine], hide_index=True, width="stretch")
        return mine
    team_rates = {r["item_id"]: r for r in reads.pass_rates(db_key(), store.CallFilter(
        team=team or _agent_team(agent)))}
    st.dataframe([{"item": r["item_id"], "name": r["name"], "calls": r["applicable"],
                   "agent pass rate": r["pass_rate"],
                   "team pass rate": team_rates.get(r["item_id"], {}).get("pass_rate"),
                   "points lost": r["points_lost"]} for r in mine],
                 hide_index=True, width="stretch")
    return mine


def _agent_team(agent: str) -> str | None:
    rows = store.list_calls(database(), store.CallFilter(agent_id=agent), limit=1)
    return rows[0]["team"] if rows else None


def _top_missed(rates: list[dict], team: str | None, agent: str | None) -> None:
    st.subheader("Top missed items, with example calls")
    missed = sorted((r for r in rates if r["fails"]), key=lambda r: -r["points_lost"])[:5]
    if not missed:
        st.info("No item lost points.")
        return
    db = database()
    rows = []
    for r in missed:
        for ex in store.failed_item_examples(db, r["item_id"], store.CallFilter(
                team=team, agent_id=agent), limit=3):
            rows.append({"item": f"{r['item_id']} {r['name']}", "fails": r["fails"],
                         "points lost": r["points_lost"],
                         "example": f"Call?call_id={ex['call_id']}",
                         "call": ex["call_id"], "agent": ex["agent_id"], "score %": ex["percent"]})
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "example": st.column_config.LinkColumn("example", display_text="open ↗")})


def _exposure(team: str | None, agent: str | None) -> None:
    st.subheader("Customer-abuse exposure per agent and shift")
    rows = reads.exposure(db_key(), store.CallFilter(team=team, agent_id=agent), SHIFTS)
    st.dataframe([{"agent": f"{r['agent_id']} {r['agent_name'] or ''}", "shift": r["shift"],
                   "calls": r["calls"], "abusive calls": r["flagged"],
                   "share": round(r["flagged"] / r["calls"], 2) if r["calls"] else None}
                  for r in rows], hide_index=True, width="stretch")
    st.caption("Agents with several abusive calls in one shift may need a break or support.")


def _baseline(agent: str) -> None:
    st.subheader("Speech rate and silence against the agent's own baseline")
    rows = talk_rows(store.agent_talk_metrics(database(), agent))
    if not rows:
        st.info("No calls for this agent.")
        return
    measures = [against_baseline("speech rate (per min)", [r["rate_per_min"] for r in rows]),
                against_baseline("silence share", [r["silence_share"] for r in rows]),
                against_baseline("longest silence (s)", [r["longest_gap_s"] for r in rows])]
    cols = st.columns(len(measures))
    for col, m in zip(cols, measures):
        col.metric(m.measure, "-" if m.latest is None else f"{m.latest:g}",
                   None if m.change is None else f"{m.change:+.0%} vs median {m.baseline:g}",
                   delta_color="off")
    st.dataframe([{k: r[k] for k in ("call_id", "started_at", "rate_per_min", "silence_share",
                                     "longest_gap_s")} for r in rows], hide_index=True,
                 width="stretch")


def render(user: User) -> None:
    st.title("Agents and teams")
    team, agent = _choose(user)
    _trend(team, agent)
    rates = _pass_rates(team, agent)
    _top_missed(rates, team, agent)
    _exposure(team, agent)
    if agent:
        _baseline(agent)
    else:
        st.caption("Choose an agent to compare their speech rate and silence with their "
                   "own baseline.")
