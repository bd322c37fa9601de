"""The call view: recording, transcript with evidence, scorecard, and the review forms
(confirm or override an item, mark a rule hit as a false hit, coaching note, dispute),
each appended to the audit trail with the signed-in user's name."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from sqlite_utils.db import Database

from qa import store
from qa.callview import (COACHING_CATEGORIES, clock, evidence_spans, lost_findings,
                         scorecard_rows, segment_html)
from qa.users import User
from qa.web import reads
from qa.web.session import database, db_key, write

KEEP = "(as scored)"


def _seek(call_id: str, seconds: float | None) -> None:
    st.session_state[f"seek_{call_id}"] = float(seconds or 0.0)


def requested_call_id() -> str | None:
    value = st.query_params.get("call_id") or st.session_state.get("call_id")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _header(call: dict, score: dict, reviewed: dict) -> None:
    st.title(f"Call {call['call_id']}")
    st.caption(" · ".join(str(x) for x in (
        call["agent_id"], call["agent_name"], call["team"], call["queue"],
        (call["started_at"] or "").replace("T", " "), call["direction"],
        f"{call['duration_s']:.0f} s" if call["duration_s"] else None,
        f"rubric {score['rubric_id']} {score['rubric_version']}") if x))
    cols = st.columns(4)
    cols[0].metric("Automatic score", f"{score['total']:g} / {score['max_total']:g}",
                   help=f"{score['percent']:.1f}%")
    cols[1].metric("Reviewed score", f"{reviewed['total']:g} / {reviewed['max_total']:g}",
                   help=f"{reviewed['percent']:.1f}%")
    cols[0].caption(f"{score['percent']:.1f}%")
    cols[1].caption(f"{reviewed['percent']:.1f}%")
    cols[2].metric("Stars", "★" * score["stars"] + "☆" * (5 - score["stars"]))
    cols[3].metric("Verdict", "CRITICAL FAIL" if reviewed["critical_failed"] else (
        "PASS" if score["passed"] and not reviewed["reviewed"] else
        ("REVIEWED" if reviewed["reviewed"] else "BELOW PASS MARK")))
    if score["critical_failed"]:
        st.error("A critical item failed: the automatic score is 0 (calculated "
                 f"{score['calculated_total']:g}/{score['max_total']:g}).")
    for f in score["flag_findings"]:
        st.warning(f"Flag — {f['item_id']}: {f['detail']} «{f['evidence'] or ''}» "
                   f"at {clock(f['start'])}")
    for p in score["predictions"]:
        st.caption(f"model {p['model']}: {p['label']} (p={p['probability']:.2f})")


def _others_since_opened(db: Database, call_id: str, user: User) -> None:
    seen_key = f"seen_{call_id}"
    if seen_key not in st.session_state:
        st.session_state[seen_key] = store.latest_review_id(db, call_id) or 0
    flash = st.session_state.pop(f"flash_{call_id}", None)
    if flash:
        st.warning(flash)
    others = [r for r in store.reviews_after(db, call_id, st.session_state[seen_key])
              if r["reviewer"] != user.name]
    if others:
        st.warning("Since you opened this call, " + "; ".join(
            f"{r['reviewer']} {r['action']}ed {r['item_id'] or 'the call'}"
            + (f" ({r['reason']})" if r["reason"] else "") for r in others)
            + ". Their reviews are kept; the scorecard below includes them.")
        if st.button("Mark as seen", key=f"seen_btn_{call_id}"):
            st.session_state[seen_key] = others[-1]["review_id"]
            st.rerun()


def _audio(call: dict) -> None:
    path = call.get("audio_path")
    if not path:
        st.caption("No recording: this call was scored from a transcript.")
        return
    audio = Path(path)
    if not audio.is_file():
        st.warning(f"The recording is not at {path} any more (moved or deleted): the "
                   "transcript and scores are still shown.")
        return
    start = st.session_state.get(f"seek_{call['call_id']}", 0.0)
    st.audio(str(audio), start_time=int(start))


def _transcript(call: dict, score: dict, verdicts: dict, reveal: bool) -> None:
    st.subheader("Transcript")
    spans = evidence_spans(score, verdicts)
    key = "original_text" if reveal else "text"
    for seg in call["segments"]:
        left, right = st.columns([2, 11])
        left.button(f"▶ {clock(seg['start'])}", key=f"seg_{seg['idx']}",
                    on_click=_seek, args=(call["call_id"], seg["start"]),
                    help="Play the recording from here")
        right.markdown(segment_html(seg, spans.get(seg["idx"], []), text_key=key),
                       unsafe_allow_html=True)


def _scorecard(call_id: str, score: dict, reviewed: dict) -> None:
    st.subheader("Scorecard")
    rows = scorecard_rows(score, reviewed)
    for section in score["sections"]:
        mine = [r for r in rows if r["section"] == section["name"]]
        st.markdown(f"**{section['name']}** — {section['points']:g}/{section['max']:g}")
        st.dataframe([{k: r[k] for k in ("item", "automatic", "final", "changed by", "why",
                                         "evidence", "at")} for r in mine],
                     hide_index=True, width="stretch")
    items = {i["item_id"]: i for i in score["items"]}
    lost = [r for r in rows if r["lost"]]
    if lost:
        st.markdown("**Points lost** (each opens its evidence in the recording)")
    for r in lost:
        f = next(iter(lost_findings(items[r["item_id"]])), None)
        st.button(f"−{r['points lost']:g} {r['item']}: {r['why']} @ {r['at'] or '-'}",
                  key=f"lost_{r['item_id']}", on_click=_seek,
                  args=(call_id, f["start"] if f else 0.0), disabled=f is None)


def _after_save(db: Database, call_id: str, user: User, new_id: int, message: str) -> None:
    """After a review: tell the reviewer who else reviewed since they opened the call."""
    seen_key = f"seen_{call_id}"
    others = [r for r in store.reviews_after(db, call_id, st.session_state.get(seen_key))
              if r["reviewer"] != user.name and r["review_id"] < new_id]
    if others:
        st.session_state[f"flash_{call_id}"] = (
            f"Saved. Note: {', '.join(sorted({r['reviewer'] for r in others}))} reviewed "
            "this call after you opened it; both reviews are kept, yours is the latest.")
    st.session_state[seen_key] = new_id
    st.toast(message)
    st.rerun()


def _review_form(db: Database, call_id: str, score: dict, user: User) -> None:
    names = {i["item_id"]: f"{i['name']} ({i['item_id']})" for i in score["items"]}
    with st.form(f"review_{call_id}", clear_on_submit=True):
        st.markdown("**Review an item**")
        item = st.selectbox("Item", list(names), format_func=names.get, key="rv_item")
        action = st.radio("Decision", ["confirm", "override"], horizontal=True, key="rv_action")
        status = st.selectbox("New status", [KEEP, "pass", "fail", "na", "critical"],
                              key="rv_status")
        points = st.number_input("New points (empty: from the status)", min_value=0.0,
                                 value=None, step=1.0, key="rv_points")
        reason = st.text_area("Reason (required for an override)", key="rv_reason")
        submitted = st.form_submit_button("Save review")
    if submitted:
        new_id = write(lambda: store.add_review(
            db, call_id, user.name, item_id=item, action=action,
            status=None if status == KEEP or action == "confirm" else status,
            points=None if action == "confirm" else points, reason=reason,
            role=user.role, based_on=st.session_state.get(f"seen_{call_id}") or None))
        if new_id is not None:
            _after_save(db, call_id, user, new_id, f"{action} of {item} saved")


def _feedback_form(db: Database, call_id: str, score: dict, verdicts: dict,
                   user: User) -> None:
    hits = [f for i in score["items"] for f in i["findings"] if f["passed"] is False]
    if not hits:
        return
    labels = {f["finding_id"]: f"{f['item_id']} · «{f['evidence'] or f['detail']}» @ "
              f"{clock(f['start'])}" + (f" [{verdicts[f['finding_id']]['verdict']}]"
                                        if f["finding_id"] in verdicts else "") for f in hits}
    with st.form(f"feedback_{call_id}", clear_on_submit=True):
        st.markdown("**Rule hit: correct or false?**")
        finding = st.selectbox("Rule hit", list(labels), format_func=labels.get, key="fb_hit")
        verdict = st.radio("Verdict", ["false_hit", "correct"], horizontal=True,
                           format_func=lambda v: v.replace("_", " "), key="fb_verdict")
        reason = st.text_input("Why (optional)", key="fb_reason")
        submitted = st.form_submit_button("Save verdict")
    if submitted:
        write(lambda: store.add_finding_feedback(db, finding, user.name, verdict, reason),
              "verdict saved")


def _note_form(db: Database, call_id: str, score: dict, user: User, notes: list[dict]) -> None:
    items = ["", *[i["item_id"] for i in score["items"]]]
    own_notes = {n["note_id"]: n["note"] for n in notes if n["author"] == user.name}
    with st.form(f"note_{call_id}", clear_on_submit=True):
        st.markdown("**Coaching note**")
        replaces = None
        if own_notes:
            replaces = st.selectbox(
                "Replaces your note (optional)", [None, *own_notes], key="cn_replaces",
                format_func=lambda i: "— a new note —" if i is None else
                f"#{i}: {own_notes[i][:40]}",
                help="The old note stays in the audit trail; the agent sees the new one.")
        category = st.selectbox("Category", COACHING_CATEGORIES, key="cn_category")
        item = st.selectbox("About item (optional)", items, key="cn_item")
        note = st.text_area("Note for the agent", key="cn_note")
        phrase = st.text_input("Suggested phrase", key="cn_phrase")
        submitted = st.form_submit_button("Add note")
    if submitted:
        write(lambda: store.add_coaching_note(db, call_id, user.name, note, category=category,
                                              suggested_phrase=phrase.strip(),
                                              item_id=item or None, supersedes=replaces),
              "coaching note replaced" if replaces else "coaching note added")


def _dispute_form(db: Database, call_id: str, score: dict, user: User) -> None:
    names = {i["item_id"]: i["name"] for i in score["items"]}
    with st.form(f"dispute_{call_id}", clear_on_submit=True):
        st.markdown("**Dispute an item**")
        item = st.selectbox("Item", list(names), format_func=names.get, key="dp_item")
        comment = st.text_area("Why the score is wrong", key="dp_comment")
        submitted = st.form_submit_button("Raise dispute")
    if submitted:
        write(lambda: store.raise_dispute(db, call_id, item, user.name, comment,
                                          role=user.role), "dispute raised")


def _trail(db: Database, call_id: str, user: User, notes: list[dict]) -> None:
    st.subheader("Audit trail")
    reviews = store.reviews_for_call(db, call_id, purpose="review")
    if reviews:
        columns = ("created_at", "reviewer", "role", "item_id", "action", "status", "points",
                   "reason")
        st.table([{k: "" if r[k] is None else r[k] for k in columns} for r in reviews])
    else:
        st.caption("No reviews yet.")
    for n in notes:
        st.info(f"📝 {n['author']} · {n['category'] or 'note'}"
                + (f" · {n['item_id']}" if n["item_id"] else "") + f": {n['note']}"
                + (f" — suggested: «{n['suggested_phrase']}»" if n["suggested_phrase"] else ""))
    if user.can("reveal"):
        for r in store.reveals(db, call_id=call_id):
            st.caption(f"🔓 unmasked text shown to {r['viewer']} ({r['role']}) at "
                       f"{r['created_at']}")
    for d in store.list_disputes(db, call_id=call_id):
        state = d["outcome"] or "open"
        st.caption(f"⚖️ dispute #{d['dispute_id']} on {d['item_id']} by {d['raised_by']}: "
                   f"{d['comment']} — {state}"
                   + (f" by {d['decided_by']}: {d['decision_comment']}" if d["outcome"] else ""))


def _record_reveal(db: Database, call_id: str, user: User, reveal: bool) -> None:
    """One audit row each time a session turns unmasked text on for a call (not one on
    every rerun of the page while it stays on)."""
    shown = st.session_state.setdefault("revealed_calls", set())
    if not reveal:
        shown.discard(call_id)
    elif call_id not in shown:
        store.record_reveal(db, call_id, user.name, user.role)
        shown.add(call_id)


def render(user: User) -> None:
    db = database()
    call_id = requested_call_id()
    if call_id is None:
        st.title("Call view")
        st.info("Open a call from the review queue.")
        return
    reveal = user.can("reveal") and st.toggle(
        "Show unredacted text", key="reveal",
        help="Card, ID and phone numbers as spoken (only when the batch kept them)")
    call = reads.call(db_key(), call_id, reveal)
    if call is None:
        st.title("Call view")
        st.error(f"There is no call {call_id!r} in this database: check the link, or open "
                 "a call from the review queue.")
        return
    if user.own_calls_only and call["agent_id"] != user.agent_id:
        st.error(f"Call {call_id} is not one of your calls.")
        return
    st.session_state["call_id"] = call_id
    _record_reveal(db, call_id, user, reveal)
    if st.query_params.get("call_id") != call_id:
        st.query_params["call_id"] = call_id  # a link to this view names the call
    if not call["scores"]:
        st.title(f"Call {call_id}")
        st.warning("This call has no score yet (run `qa batch` on it).")
        return
    score = call["scores"][0]
    reviewed = store.reviewed_score(db, call_id)
    verdicts = store.finding_verdicts(db, call_id)
    notes = store.coaching_notes(db, call_id=call_id)  # the note form and the trail
    _header(call, score, reviewed)
    _others_since_opened(db, call_id, user)
    left, right = st.columns([3, 2])
    with left:
        _audio(call)
        _transcript(call, score, verdicts, reveal)
    with right:
        _scorecard(call_id, score, reviewed)
        if user.can("review"):
            _review_form(db, call_id, score, user)
        if user.can("feedback"):
            _feedback_form(db, call_id, score, verdicts, user)
        if user.can("coach"):
            _note_form(db, call_id, score, user, notes)
        if user.can("dispute"):
            _dispute_form(db, call_id, score, user)
    _trail(db, call_id, user, notes)
