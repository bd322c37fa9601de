"""Cached reads for the pages (keyed on the database and the query; a write clears them,
see session.saved; other processes' writes show within `ttl`)."""

from __future__ import annotations

import streamlit as st

from qa import store
from qa.web.session import connections

TTL = 30


@st.cache_data(ttl=TTL, show_spinner=False)
def queue_page(key: str, where: store.CallFilter, review_status: str | None,
               assigned_to: str | None, order: str, limit: int, offset: int):
    db = connections(key).get()
    return (store.list_queue(db, where, review_status=review_status, assigned_to=assigned_to,
                             order=order, limit=limit, offset=offset),
            store.count_queue(db, where, review_status=review_status, assigned_to=assigned_to))


@st.cache_data(ttl=TTL, show_spinner=False)
def choices(key: str) -> dict:
    return store.queue_choices(connections(key).get())


@st.cache_data(ttl=TTL, show_spinner=False)
def call(key: str, call_id: str, with_original: bool) -> dict | None:
    return store.get_call(connections(key).get(), call_id, with_original=with_original)


@st.cache_data(ttl=TTL, show_spinner=False)
def pass_rates(key: str, where: store.CallFilter, group_by: str | None = None) -> list[dict]:
    return store.item_pass_rates(connections(key).get(), where, group_by)


@st.cache_data(ttl=TTL, show_spinner=False)
def trend(key: str, where: store.CallFilter, by: str | None) -> list[dict]:
    return store.score_trend(connections(key).get(), where, by)


@st.cache_data(ttl=TTL, show_spinner=False)
def exposure(key: str, where: store.CallFilter, shifts: tuple) -> list[dict]:
    return store.shift_exposure(connections(key).get(), shifts, where)


@st.cache_data(ttl=TTL, show_spinner=False)
def rules(key: str, where: store.CallFilter, by: str) -> tuple[list[dict], list[dict]]:
    db = connections(key).get()
    return store.rule_hit_rates(db, where, by), store.rule_precision(
        db, "evidence" if by == "evidence" else "item_id")
