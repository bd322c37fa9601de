"""Calibration: a QA lead puts calls into calibration for several reviewers; each scores
them blind (no automatic score, nobody else's ratings); the lead sees the agreement."""

from __future__ import annotations

import streamlit as st
from sqlite_utils.db import Database

from qa import store
from qa.calibration import calibration_report, points_for, ratings_from_rows
from qa.callview import segment_html
from qa.users import User
from qa.web import reads
from qa.web.session import database, db_key, reviewer_names, write

STATUSES = ("pass", "fail", "na", "critical")


def _assign(db: Database, user: User) -> None:
    calls = [r["call_id"] for r in reads.queue_page(db_key(), store.CallFilter(), None, None,
                                                     "date", 500, 0)[0]]
    reviewers = reviewer_names(db)
    with st.form("calibration_assign", clear_on_submit=True):
        st.markdown("**Start a calibration round**")
        chosen = st.multiselect("Calls", calls, key="ca_calls")
        people = st.multiselect("Reviewers (score blind)", reviewers, key="ca_reviewers")
        submitted = st.form_submit_button("Assign for calibration")
    if submitted:
        if not chosen or len(people) < 2:
            st.error("Choose at least one call and two reviewers.")
            return
        write(lambda: store.assign_calls(db, [(c, p) for c in chosen for p in people],
                                         user.name, purpose="calibration",
                                         reason="calibration round"),
              f"{len(chosen) * len(people)} calibration assignments")


def _score_blind(db: Database, user: User) -> None:
    mine = [c for c in store.calibration_calls(db, user.name)
            if user.name in (c["assigned"] or "").split(",")]
    todo = [c["call_id"] for c in mine if not c["done"]]
    st.subheader("Your calibration calls")
    if not todo:
        st.info("Nothing to score blind." if not mine else
                "You have scored all your calibration calls.")
        return
    call_id = st.selectbox("Call to score", todo, key="cb_call")
    call = reads.call(db_key(), call_id, False)
    if call is None or not call["scores"]:
        st.error(f"Call {call_id} is not in the database any more.")
        return
    items = call["scores"][0]["items"]
    with st.expander("Transcript", expanded=True):
        for seg in call["segments"]:
            st.markdown(segment_html(seg, []), unsafe_allow_html=True)
    with st.form(f"calibrate_{call_id}", clear_on_submit=True):
        st.markdown("**Your scores** (the automatic score is hidden until the round ends)")
        given = {}
        for item in items:
            cols = st.columns([3, 2, 2])
            cols[0].markdown(f"{item['name']} ({item['max']:g})")
            status = cols[1].selectbox("status", STATUSES, key=f"cb_{call_id}_{item['item_id']}",
                                       label_visibility="collapsed")
            points = cols[2].number_input("points", 0.0, float(item["max"]), value=None,
                                          step=1.0, key=f"cbp_{call_id}_{item['item_id']}",
                                          label_visibility="collapsed")
            given[item["item_id"]] = (status, points_for(status, item["max"], points))
        submitted = st.form_submit_button("Submit calibration scores")
    if submitted:
        write(lambda: store.add_reviews(
            db, call_id, user.name,
            [{"item_id": item_id, "status": status, "points": points}
             for item_id, (status, points) in given.items()],
            action="override", reason="calibration (blind)", role=user.role,
            purpose="calibration"), f"calibration scores for {call_id} saved")


def _results(db: Database) -> None:
    st.subheader("Agreement")
    rows, automatic = store.calibration_ratings(db)
    report = calibration_report(ratings_from_rows(rows), ratings_from_rows(automatic))
    if len(report.raters) < 2:
        st.info("Agreement shows once two reviewers have scored the same calls.")
        return
    cols = st.columns(3)
    cols[0].metric("Fleiss' kappa", "-" if report.fleiss is None else f"{report.fleiss:.2f}")
    cols[1].metric("Strictest", report.strictest.rater if report.strictest else "-")
    cols[2].metric("Most lenient", report.most_lenient.rater if report.most_lenient else "-")
    st.markdown("**Per item** (calls every reviewer scored)")
    st.dataframe([{"item": i.item_id, "calls": i.calls, "all agree": i.unanimous,
                   "agreement": None if i.rate is None else round(i.rate, 2),
                   "automatic agrees": i.automatic_agrees} for i in report.items],
                 hide_index=True, width="stretch")
    st.markdown("**Cohen's kappa between reviewers**")
    st.dataframe([{"reviewer A": a, "reviewer B": b,
                   "kappa": None if k is None else round(k, 2)}
                  for (a, b), k in report.pairwise.items()], hide_index=True)
    st.markdown("**Reviewers against the automatic scoring** (strictest first)")
    st.dataframe([{"reviewer": r.rater, "ratings": r.ratings, "pass rate": round(r.pass_rate, 2),
                   "points share": None if r.mean_points_share is None
                   else round(r.mean_points_share, 2),
                   "kappa vs automatic": None if r.vs_automatic is None
                   else round(r.vs_automatic, 2)} for r in report.leniency], hide_index=True)


def render(user: User) -> None:
    st.title("Calibration")
    db = database()
    if user.can("assign"):
        _assign(db, user)
    if user.can("calibrate"):
        _score_blind(db, user)
    if user.can("see_calibration"):
        _results(db)
