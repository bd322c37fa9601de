"""Rules: how often each rule and each lexicon phrase fires, and how often reviewers
found its hits correct (precision), so QA leads know which rules to fix."""

from __future__ import annotations

import streamlit as st

from qa import store
from qa.users import User
from qa.web import reads
from qa.web.session import db_key


def _table(by: str, label: str) -> None:
    hits, precision = reads.rules(db_key(), store.CallFilter(), by)
    measured = {r["evidence" if by == "evidence" else "item_id"]: r for r in precision}
    rows = []
    for r in hits:
        p = measured.get(r[by], {})
        rows.append({label: r[by], "item": r["item_id"], "hits": r["hits"],
                     "calls hit": r["calls_hit"], "hit rate": round(r["hit_rate"], 3)
                     if r["hit_rate"] is not None else None,
                     "reviewed": p.get("reviewed", 0), "false hits": p.get("false_hits", 0),
                     "precision": None if p.get("precision") is None else round(p["precision"], 2)})
    rows.sort(key=lambda r: (r["precision"] if r["precision"] is not None else 2.0, -r["hits"]))
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.info("No rule hits in the scored calls.")


def render(user: User) -> None:
    st.title("Rules")
    st.caption("Hit rate: share of scored calls where the rule found a failure. Precision: "
               "share of reviewed hits that reviewers marked correct (latest verdict per "
               "hit). Lowest precision first: those rules need fixing.")
    st.subheader("Per rubric item")
    _table("item_id", "rule")
    st.subheader("Per lexicon phrase (forbidden words)")
    _table("evidence", "phrase")
