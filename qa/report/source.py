"""Report frames from the results database (qa.store) and the rubrics behind the scores."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from qa import store
from qa.errors import QAError
from qa.report.data import ReportFrames
from qa.report.period import Period


def _rubric_texts(rubric_ids: set[str]) -> tuple[dict, dict]:
    """Coaching lines and opening/closing position per (rubric id, item id), for the
    rubrics that can still be found (a score from a rubric since removed keeps its
    numbers, only without the 'should say' line)."""
    from qa.rubrics import load_rubric

    coaching: dict[tuple[str, str], str] = {}
    where: dict[tuple[str, str], str] = {}
    for rubric_id in sorted(rubric_ids):
        try:
            rubric = load_rubric(rubric_id, bind=False)
        except QAError:  # a rubric since removed or broken only loses the hint text
            continue
        for item in rubric.items():
            coaching[(rubric_id, item.id)] = item.coaching
            checks = item.checks
            if any(getattr(c, "last_s", None) for c in checks):
                where[(rubric_id, item.id)] = "end"
            elif any(getattr(c, "within_s", None) for c in checks):
                where[(rubric_id, item.id)] = "start"
    return coaching, where


def load_frames(db, start: dt.date, end: dt.date) -> ReportFrames:
    """Every scored call from `start` to `end` (call dates, inclusive) with its items,
    coaching notes and disputes; the segments (masked in the store) and findings of the
    calls a report quotes are read when it quotes them."""
    data = store.report_tables(db, start.isoformat(), end.isoformat())
    calls = pd.DataFrame(data["calls"])
    if len(calls):
        calls["customer_abuse"] = [("customer_abuse" in f) for f in calls["flags"]]
        calls["complaint"] = [("complaint_intent" in f) or bool(p)
                              for f, p in zip(calls["flags"], calls["complaint_risk_high"])]
        calls["resolved"] = [_resolution(extra) for extra in calls["extra"]]
    coaching, where = _rubric_texts(set(calls["rubric_id"]) if len(calls) else set())

    def details(call_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        found = store.call_details(db, call_ids)
        return pd.DataFrame(found["segments"]), pd.DataFrame(found["findings"])

    return ReportFrames(calls=calls, items=pd.DataFrame(data["items"]),
                        notes=pd.DataFrame(data["notes"]),
                        disputes=pd.DataFrame(data["disputes"]),
                        coaching=coaching, item_where=where, fetch_details=details)


_RESOLUTION_KEYS = ("resolved", "first_contact_resolution", "fcr", "一次解决")


def _resolution(extra: dict | None):
    """The call's first-contact-resolution value when the metadata carries one."""
    for key in _RESOLUTION_KEYS:
        if extra and key in extra and extra[key] not in (None, ""):
            return extra[key]
    return None


def frames_for_period(db, period: Period) -> ReportFrames:
    """The frames a report on `period` needs: the period and the one before it."""
    return load_frames(db, period.previous().start, period.end)
