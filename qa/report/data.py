"""What a coaching report says, worked out from plain tables before anything is drawn.

`ReportFrames` holds the scored calls of a span of time as pandas frames (read from the
store by `qa.store`, or built from scorecards in tests); `build_report` turns them into
a `Report` for one agent, one team or the whole centre. Pure: no files, no database.
Every list in a report is sorted on explicit keys, so the same data gives the same
report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import pandas as pd

from qa.checks import split_name
from qa.report.period import Period
from qa.text import redact

Scope = Literal["agent", "team", "center"]

CALL_COLUMNS = ("call_id", "started_at", "agent_id", "agent_name", "team", "queue",
                "organisation", "language",
                "rubric_id", "rubric_version", "total", "max_total", "percent", "stars",
                "passed", "critical_failed", "reviewed_total", "customer_abuse", "complaint",
                "resolved", "duration_s", "longest_silence_s", "silence_ratio", "speech_rate")
ITEM_COLUMNS = ("call_id", "item_id", "item_name", "section_id", "status", "points", "max")
FINDING_COLUMNS = ("call_id", "item_id", "passed", "speaker", "start", "end", "evidence",
                   "detail", "segment_index")
SEGMENT_COLUMNS = ("call_id", "segment_index", "start", "end", "speaker", "text")
NOTE_COLUMNS = ("call_id", "agent_id", "author", "created_at", "category", "text",
                "suggested_phrase")
DISPUTE_COLUMNS = ("call_id", "agent_id", "item_id", "raised_by", "raised_at", "comment",
                   "outcome", "decided_by", "decided_at")


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class ReportFrames:
    """Scored calls and what hangs off them. `calls.started_at` is a date-time; `coaching`
    maps (rubric_id, item_id) to the rubric's coaching line (what should have been said)
    and `item_where` to "start"/"end" for items about the opening or the closing."""

    calls: pd.DataFrame
    items: pd.DataFrame
    findings: pd.DataFrame = field(default_factory=lambda: empty_frame(FINDING_COLUMNS))
    segments: pd.DataFrame = field(default_factory=lambda: empty_frame(SEGMENT_COLUMNS))
    notes: pd.DataFrame = field(default_factory=lambda: empty_frame(NOTE_COLUMNS))
    disputes: pd.DataFrame = field(default_factory=lambda: empty_frame(DISPUTE_COLUMNS))
    coaching: dict[tuple[str, str], str] = field(default_factory=dict)
    item_where: dict[tuple[str, str], str] = field(default_factory=dict)
    # Segments and findings of the few calls a report quotes, fetched when needed (a
    # month of a whole centre's segments need not be read to quote thirty calls); by
    # default they come from `segments` and `findings`.
    fetch_details: Callable[[list[str]], tuple[pd.DataFrame, pd.DataFrame]] | None = None

    def __post_init__(self) -> None:
        for name, columns in (("calls", CALL_COLUMNS), ("items", ITEM_COLUMNS),
                              ("findings", FINDING_COLUMNS), ("segments", SEGMENT_COLUMNS),
                              ("notes", NOTE_COLUMNS), ("disputes", DISPUTE_COLUMNS)):
            self._complete(getattr(self, name), columns)
        self.calls["started_at"] = pd.to_datetime(self.calls["started_at"], utc=False,
                                                  format="ISO8601")
        if len(self.calls):
            self.calls["day"] = [ts.date() for ts in self.calls["started_at"]]
        else:
            self.calls["day"] = pd.Series(dtype="object")

    def details(self, call_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(segments, findings) of the calls `call_ids`."""
        if self.fetch_details is not None:
            segments, findings = self.fetch_details(call_ids)
            return (ReportFrames._complete(segments, SEGMENT_COLUMNS),
                    ReportFrames._complete(findings, FINDING_COLUMNS))
        wanted = set(call_ids)
        return (self.segments[self.segments["call_id"].isin(wanted)],
                self.findings[self.findings["call_id"].isin(wanted)])

    @staticmethod
    def _complete(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
        for column in columns:
            if column not in frame.columns:
                frame[column] = pd.Series([None] * len(frame), dtype="object", index=frame.index)
        return frame

    def calls_in(self, period: Period, *, agent_id: str | None = None,
                 team: str | None = None) -> pd.DataFrame:
        calls = self.calls
        mask = (calls["day"] >= period.start) & (calls["day"] <= period.end)
        if agent_id is not None:
            mask &= calls["agent_id"] == agent_id
        if team is not None:
            mask &= calls["team"] == team
        return calls[mask]


# --- the report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    calls: int
    mean_score: float | None          # percent, after review where reviewed
    median_score: float | None
    pass_rate: float | None
    critical_fails: int
    stars: dict[int, int]             # stars -> calls
    distribution: list[tuple[str, int]]  # score band -> calls
    previous_mean: float | None
    previous_calls: int
    comparison_mean: float | None     # the team's (for an agent) or the centre's (for a team)
    comparison_label: str

    @property
    def trend(self) -> float | None:
        if self.mean_score is None or self.previous_mean is None:
            return None
        return round(self.mean_score - self.previous_mean, 1)

    @property
    def against_comparison(self) -> float | None:
        if self.mean_score is None or self.comparison_mean is None:
            return None
        return round(self.mean_score - self.comparison_mean, 1)


@dataclass(frozen=True)
class Excerpt:
    """A few lines of a call around a finding, redacted, with the times."""

    call_id: str
    started_at: str
    score: float
    lines: tuple[tuple[float, str, str], ...]  # (start seconds, speaker, text)
    detail: str


@dataclass(frozen=True)
class ItemLine:
    item_id: str
    name: str
    section_id: str
    applicable: int
    passed: int
    pass_rate: float | None
    comparison_rate: float | None
    points_lost: float
    should_say: str
    best: tuple[Excerpt, ...]
    misses: tuple[Excerpt, ...]


@dataclass(frozen=True)
class LeagueRow:
    rank: int
    agent_id: str
    agent_name: str
    team: str
    calls: int
    mean_score: float
    pass_rate: float
    critical_fails: int
    abuse_calls: int


@dataclass(frozen=True)
class AbuseExposure:
    agent_id: str
    agent_name: str
    calls: int
    abusive_calls: int
    share: float


@dataclass(frozen=True)
class Kpis:
    first_contact_resolution: float | None   # None when the metadata has no resolution field
    complaint_rate: float
    critical_fail_rate: float
    reviewed_share: float


@dataclass(frozen=True)
class TrendPoint:
    label: str
    calls: int
    mean_score: float


@dataclass(frozen=True)
class Report:
    scope: Scope
    subject: str              # agent id, team name or "center"
    title: str
    period: Period
    previous: Period
    headline: Headline
    items: tuple[ItemLine, ...]
    strengths: tuple[ItemLine, ...]
    focus: tuple[ItemLine, ...]
    trend: tuple[TrendPoint, ...]
    silence: tuple[float, ...]       # longest silence per call, seconds
    speech_rate: tuple[float, ...]   # agent characters (zh) or words (en) per minute
    notes: tuple[dict, ...]
    disputes: tuple[dict, ...]
    rubric_versions: tuple[str, ...]
    league: tuple[LeagueRow, ...] = ()
    kpis: Kpis | None = None
    abuse: tuple[AbuseExposure, ...] = ()
    generated_at: str = ""
    calls_table: tuple[dict, ...] = ()


class EmptyReport(ValueError):
    """No scored call for the subject in the period."""


def _final_scores(calls: pd.DataFrame) -> pd.Series:
    """Per call, the reviewed score where a reviewer changed it, else the automatic one."""
    reviewed = pd.to_numeric(calls["reviewed_total"], errors="coerce")
    automatic = pd.to_numeric(calls["percent"], errors="coerce")
    max_total = pd.to_numeric(calls["max_total"], errors="coerce")
    as_percent = (100.0 * reviewed / max_total).where(max_total > 0)
    return as_percent.where(reviewed.notna(), automatic).astype(float)


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return round(float(values.mean()), 1) if len(values) else None


def _bool(series: pd.Series) -> pd.Series:
    return series.fillna(False).astype(bool)


_BANDS = ((0, 60, "<60"), (60, 70, "60-69"), (70, 80, "70-79"), (80, 90, "80-89"),
          (90, 101, "90-100"))


def headline(calls: pd.DataFrame, previous: pd.DataFrame, comparison: pd.DataFrame,
             comparison_label: str) -> Headline:
    scores = _final_scores(calls)
    stars = {s: int((calls["stars"] == s).sum()) for s in range(5, 0, -1)}
    distribution = [(label, int(((scores >= low) & (scores < high)).sum()))
                    for low, high, label in _BANDS]
    return Headline(
        calls=len(calls), mean_score=_mean(scores),
        median_score=round(float(scores.median()), 1) if len(scores.dropna()) else None,
        pass_rate=round(float(_bool(calls["passed"]).mean()), 3) if len(calls) else None,
        critical_fails=int(_bool(calls["critical_failed"]).sum()), stars=stars,
        distribution=distribution, previous_mean=_mean(_final_scores(previous)),
        previous_calls=len(previous), comparison_mean=_mean(_final_scores(comparison)),
        comparison_label=comparison_label)


def _pass_rates(items: pd.DataFrame) -> pd.DataFrame:
    """Per item: applicable calls, passes, pass rate and points lost."""
    applicable = items[items["status"] != "na"].copy()
    if applicable.empty:
        return pd.DataFrame(columns=["item_id", "applicable", "passed", "pass_rate", "lost"])
    applicable["ok"] = applicable["status"] == "pass"
    applicable["lost"] = (pd.to_numeric(applicable["max"]) - pd.to_numeric(applicable["points"]))
    grouped = applicable.groupby("item_id", sort=True).agg(
        applicable=("ok", "size"), passed=("ok", "sum"), lost=("lost", "sum"))
    grouped["pass_rate"] = grouped["passed"] / grouped["applicable"]
    return grouped.reset_index()


def _excerpt(frames: ReportFrames, call: pd.Series, item_id: str, score: float,
             segments_by_call: dict[str, pd.DataFrame], findings: pd.DataFrame) -> Excerpt:
    segments = segments_by_call.get(call["call_id"])
    lines: list[tuple[float, str, str]] = []
    detail = ""
    own = findings[(findings["call_id"] == call["call_id"]) & (findings["item_id"] == item_id)]
    failed = own[own["passed"] == False]  # noqa: E712 - None means not applicable
    chosen = failed if len(failed) else own
    # the finding that points at a segment (its evidence) is the one to quote
    chosen = chosen.assign(_unplaced=chosen["segment_index"].isna()).sort_values(
        "_unplaced", kind="stable")
    if len(chosen):
        first = chosen.iloc[0]
        detail = str(first["detail"] or "")
    if segments is not None and len(segments):
        picked = None
        if len(chosen):
            index = chosen.iloc[0]["segment_index"]
            if index is not None and not (isinstance(index, float) and math.isnan(index)):
                index = int(index)
                picked = segments[(segments["segment_index"] >= index - 1)
                                  & (segments["segment_index"] <= index)]
        if picked is None or picked.empty:
            where = frames.item_where.get((call["rubric_id"], item_id), "start")
            picked = segments.head(2) if where != "end" else segments.tail(2)
        lines = [(round(float(r.start), 1), str(r.speaker), redact(str(r.text)))
                 for r in picked.itertuples()]
    started = call["started_at"]
    return Excerpt(call_id=str(call["call_id"]),
                   started_at=started.isoformat() if not pd.isna(started) else "",
                   score=round(float(score), 1), lines=tuple(lines), detail=detail)


def _most_common(values: pd.Series) -> str | None:
    counts = values.dropna().astype(str).value_counts()
    if counts.empty:
        return None
    top = counts[counts == counts.iloc[0]].index
    return sorted(top)[0]


def fill_coaching(template: str, calls: pd.DataFrame, agent_scope: bool) -> str:
    """A rubric's coaching line with its placeholders filled for the report's subject:
    the organisation the calls name and, in an agent's report, the agent's own name."""
    if not template:
        return ""
    language = _most_common(calls["language"]) or "zh"
    english = language.startswith("en")
    organisation = _most_common(calls["organisation"])
    name = _most_common(calls["agent_name"]) if agent_scope else None
    surname, given = split_name(name or "", language)
    values = {
        "company": organisation or ("[organisation]" if english else "[机构名]"),
        "agent_surname": surname or ("[surname]" if english else "[姓]"),
        "agent_given_name": given or ("[name]" if english else "[名]"),
        "agent_name": (name or "").strip() or ("[name]" if english else "[姓名]"),
    }
    values["agent_name_part"] = values["agent_given_name"]
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _item_lines(frames: ReportFrames, calls: pd.DataFrame, comparison_calls: pd.DataFrame,
                examples: int, best_examples: int, agent_scope: bool) -> tuple[ItemLine, ...]:
    ids = set(calls["call_id"])
    items = frames.items[frames.items["call_id"].isin(ids)]
    rates = _pass_rates(items).set_index("item_id")
    comparison = _pass_rates(frames.items[frames.items["call_id"].isin(
        set(comparison_calls["call_id"]))]).set_index("item_id")
    names = (items.drop_duplicates("item_id").set_index("item_id")[["item_name", "section_id"]]
             if len(items) else pd.DataFrame(columns=["item_name", "section_id"]))
    scores = dict(zip(calls["call_id"], _final_scores(calls)))
    by_call = calls.set_index("call_id")

    def ranked(own: pd.DataFrame, statuses: tuple[str, ...], best_first: bool,
               limit: int) -> list[str]:
        chosen = own[own["status"].isin(statuses)]["call_id"].tolist()
        return sorted(chosen, key=lambda c: ((-scores[c]) if best_first else scores[c], c))[:limit]

    order = [i for i in dict.fromkeys(items["item_id"]) if i in rates.index]  # rubric order
    picks = {}
    for item_id in order:
        own = items[items["item_id"] == item_id]
        # A few more passes than needed: only those whose passing evidence can be quoted
        # are examples to learn from (a password that was never asked for shows nothing).
        picks[item_id] = (own, ranked(own, ("pass",), True, 3 * best_examples),
                          ranked(own, ("fail", "critical"), False, examples))
    excerpt_ids = sorted({c for _, best, misses in picks.values() for c in best + misses})
    segments, findings = frames.details(excerpt_ids)
    segments = segments.sort_values(["call_id", "segment_index"])
    segments_by_call = {cid: g for cid, g in segments.groupby("call_id", sort=True)}
    quotable = findings[(findings["passed"] == True) & findings["segment_index"].notna()]  # noqa: E712
    quotable = set(zip(quotable["call_id"], quotable["item_id"]))

    def excerpts(item_id: str, chosen: list[str]) -> tuple[Excerpt, ...]:
        return tuple(_excerpt(frames, _with_id(by_call, c), item_id, scores[c],
                              segments_by_call, findings) for c in chosen)

    lines = []
    for item_id in order:
        rate = rates.loc[item_id]
        own, best, misses = picks[item_id]
        rubric_id = str(by_call.loc[own.iloc[0]["call_id"], "rubric_id"])
        lines.append(ItemLine(
            item_id=item_id, name=str(names.loc[item_id, "item_name"]),
            section_id=str(names.loc[item_id, "section_id"]),
            applicable=int(rate["applicable"]), passed=int(rate["passed"]),
            pass_rate=round(float(rate["pass_rate"]), 3),
            comparison_rate=(round(float(comparison.loc[item_id, "pass_rate"]), 3)
                             if item_id in comparison.index else None),
            points_lost=round(float(rate["lost"]), 1),
            should_say=fill_coaching(frames.coaching.get((rubric_id, item_id), ""), calls,
                                     agent_scope),
            best=excerpts(item_id, [c for c in best if (c, item_id) in quotable][:best_examples]),
            misses=excerpts(item_id, misses)))
    return tuple(lines)


def _with_id(by_call: pd.DataFrame, call_id: str) -> pd.Series:
    row = by_call.loc[call_id].copy()
    row["call_id"] = call_id
    return row


def _trend(calls: pd.DataFrame, period: Period) -> tuple[TrendPoint, ...]:
    """Mean score per day for periods up to a month, per ISO week for longer ones."""
    if calls.empty:
        return ()
    scores = _final_scores(calls)
    if period.days <= 31:
        keys = [d.isoformat() for d in calls["day"]]
    else:
        keys = [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in calls["day"]]
    frame = pd.DataFrame({"key": keys, "score": scores.values})
    grouped = frame.groupby("key", sort=True)["score"].agg(["size", "mean"])
    return tuple(TrendPoint(str(k), int(r["size"]), round(float(r["mean"]), 1))
                 for k, r in grouped.iterrows())


def _records(frame: pd.DataFrame, columns: tuple[str, ...], sort: list[str]) -> tuple[dict, ...]:
    if frame.empty:
        return ()
    ordered = frame.sort_values(sort, kind="stable")
    out = []
    for row in ordered[list(columns)].itertuples(index=False):
        record = {}
        for column, value in zip(columns, row):
            if isinstance(value, float) and math.isnan(value):
                value = None
            record[column] = redact(value) if isinstance(value, str) else value
        out.append(record)
    return tuple(out)


def _league(calls: pd.DataFrame) -> tuple[LeagueRow, ...]:
    if calls.empty:
        return ()
    frame = calls.assign(score=_final_scores(calls).values,
                         passed_=_bool(calls["passed"]).values,
                         critical_=_bool(calls["critical_failed"]).values,
                         abuse_=_bool(calls["customer_abuse"]).values)
    grouped = frame.groupby("agent_id", sort=True).agg(
        agent_name=("agent_name", "first"), team=("team", "first"), calls=("call_id", "size"),
        mean_score=("score", "mean"), pass_rate=("passed_", "mean"),
        critical_fails=("critical_", "sum"), abuse_calls=("abuse_", "sum")).reset_index()
    grouped = grouped.sort_values(["mean_score", "calls", "agent_id"],
                                  ascending=[False, False, True], kind="stable")
    return tuple(LeagueRow(rank, str(r.agent_id), str(r.agent_name or ""), str(r.team or ""),
                           int(r.calls), round(float(r.mean_score), 1),
                           round(float(r.pass_rate), 3), int(r.critical_fails),
                           int(r.abuse_calls))
                 for rank, r in enumerate(grouped.itertuples(), start=1))


def _abuse(calls: pd.DataFrame, limit: int = 5) -> tuple[AbuseExposure, ...]:
    rows = [AbuseExposure(r.agent_id, r.agent_name, r.calls, r.abuse_calls,
                          round(r.abuse_calls / r.calls, 3))
            for r in _league(calls) if r.abuse_calls]
    rows.sort(key=lambda r: (-r.abusive_calls, -r.share, r.agent_id))
    return tuple(rows[:limit])


def _kpis(calls: pd.DataFrame) -> Kpis:
    resolved = calls["resolved"].dropna()
    fcr = None
    if len(resolved):
        flags = resolved.map(lambda v: str(v).strip().lower() in {"1", "true", "yes", "y", "是"})
        fcr = round(float(flags.mean()), 3)
    return Kpis(first_contact_resolution=fcr,
                complaint_rate=round(float(_bool(calls["complaint"]).mean()), 3),
                critical_fail_rate=round(float(_bool(calls["critical_failed"]).mean()), 3),
                reviewed_share=round(float(calls["reviewed_total"].notna().mean()), 3))


def _numbers(series: pd.Series) -> tuple[float, ...]:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return tuple(round(float(v), 1) for v in values)


def build_report(frames: ReportFrames, scope: Scope, subject: str | None, period: Period, *,
                 examples: int = 3, best_examples: int = 2, generated_at: str = "") -> Report:
    """The report on `subject` (an agent id, a team name, or None for the centre) for
    `period`, compared with the period before and with the agent's team (or, for a team,
    the centre). Raises EmptyReport when the subject has no scored call in the period."""
    previous = period.previous()
    if scope == "agent":
        calls = frames.calls_in(period, agent_id=subject)
        before = frames.calls_in(previous, agent_id=subject)
        team = calls["team"].dropna().mode()
        team_name = str(team.iloc[0]) if len(team) else None
        comparison = frames.calls_in(period, team=team_name) if team_name else calls.iloc[0:0]
        comparison_label = f"team {team_name}" if team_name else "team"
        name = calls["agent_name"].dropna()
        title = f"{name.iloc[0] if len(name) else subject} ({subject})"
    elif scope == "team":
        calls = frames.calls_in(period, team=subject)
        before = frames.calls_in(previous, team=subject)
        comparison, comparison_label = frames.calls_in(period), "centre"
        title = f"Team {subject}"
    else:
        calls = frames.calls_in(period)
        before = frames.calls_in(previous)
        comparison, comparison_label = calls.iloc[0:0], ""
        title = "Whole centre"
    if calls.empty:
        what = {"agent": f"agent {subject}", "team": f"team {subject}",
                "center": "the centre"}[scope]
        raise EmptyReport(f"no scored calls for {what} in {period.label}")
    calls = calls.sort_values(["started_at", "call_id"], kind="stable")
    items = _item_lines(frames, calls, comparison if len(comparison) else calls, examples,
                        best_examples, agent_scope=scope == "agent")
    failing = [i for i in items if i.points_lost > 0]
    focus = tuple(sorted(failing, key=lambda i: (-i.points_lost, i.pass_rate or 0.0,
                                                 i.item_id))[:3])
    strengths = tuple(sorted((i for i in items if i not in focus and i.pass_rate is not None),
                             key=lambda i: (-(i.pass_rate - (i.comparison_rate or 0.0)),
                                            -(i.pass_rate or 0.0), i.item_id))[:3])
    ids = set(calls["call_id"])
    notes = frames.notes[frames.notes["call_id"].isin(ids) | (
        (frames.notes["agent_id"] == subject) if scope == "agent" else False)]
    disputes = frames.disputes[frames.disputes["call_id"].isin(ids)]
    versions = sorted({f"{r}@{v}" for r, v in zip(calls["rubric_id"], calls["rubric_version"])})
    scores = _final_scores(calls)
    table = tuple(
        {"call_id": str(r.call_id), "started_at": r.started_at.isoformat(),
         "agent_id": str(r.agent_id or ""), "agent_name": str(r.agent_name or ""),
         "team": str(r.team or ""), "score": round(float(s), 1), "stars": int(r.stars or 0),
         "passed": bool(r.passed), "critical_failed": bool(r.critical_failed),
         "rubric": f"{r.rubric_id}@{r.rubric_version}"}
        for r, s in zip(calls.itertuples(), scores))
    return Report(
        scope=scope, subject=subject or "center", title=title, period=period,
        previous=previous,
        headline=headline(calls, before, comparison, comparison_label),
        items=items, strengths=strengths, focus=focus, trend=_trend(calls, period),
        silence=_numbers(calls["longest_silence_s"]), speech_rate=_numbers(calls["speech_rate"]),
        notes=_records(notes, NOTE_COLUMNS, ["created_at", "call_id"]),
        disputes=_records(disputes, DISPUTE_COLUMNS, ["raised_at", "call_id", "item_id"]),
        rubric_versions=tuple(versions),
        league=_league(calls) if scope != "agent" else (),
        kpis=_kpis(calls) if scope != "agent" else None,
        abuse=_abuse(calls) if scope != "agent" else (),
        generated_at=generated_at, calls_table=table)


def agents_in(frames: ReportFrames, period: Period) -> list[str]:
    """Agent ids with scored calls in the period, sorted."""
    return sorted({str(a) for a in frames.calls_in(period)["agent_id"].dropna()})
