"""The review sampling plan QA leads set: N random calls per agent per week, plus every
critical fail and every high-risk call (customer abuse, complaint intent, or a complaint
model's probability over a threshold), spread over the reviewers. Pure: candidate rows
in, a reproducible sample out (the same seed gives the same sample)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

HIGH_RISK_FLAGS = ("customer_abuse", "complaint_intent")


@dataclass(frozen=True)
class SamplingPlan:
    per_agent_per_week: int = 2
    every_critical: bool = True
    every_high_risk: bool = True
    risk_threshold: float = 0.7
    seed: str = "callqa"

    def __post_init__(self) -> None:
        if self.per_agent_per_week < 0:
            raise ValueError("calls per agent per week cannot be negative")
        if not 0.0 <= self.risk_threshold <= 1.0:
            raise ValueError("the risk threshold is a probability from 0 to 1")


@dataclass(frozen=True)
class Candidate:
    call_id: str
    agent_id: str | None
    call_date: str | None
    critical_failed: bool = False
    flags: tuple[str, ...] = ()
    risk: float | None = None   # the highest complaint-type model probability, if any


@dataclass(frozen=True)
class Sampled:
    call_id: str
    reason: str


def iso_week(call_date: str | None) -> str:
    """'2026-W48' for a YYYY-MM-DD date, 'undated' without one."""
    if not call_date:
        return "undated"
    try:
        year, week, _ = dt.date.fromisoformat(call_date[:10]).isocalendar()
    except ValueError:
        return "undated"
    return f"{year}-W{week:02d}"


def is_high_risk(c: Candidate, plan: SamplingPlan) -> bool:
    return any(f in HIGH_RISK_FLAGS for f in c.flags) or (
        c.risk is not None and c.risk >= plan.risk_threshold)


def draw_sample(candidates: Iterable[Candidate], plan: SamplingPlan) -> list[Sampled]:
    """The calls the plan selects, each with why: `critical fail`, `high risk`, or
    `random (agent, week)`. Random picks are drawn per agent and week from the calls not
    already selected, with a generator seeded by the plan's seed, agent and week."""
    chosen: dict[str, str] = {}
    pool: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.call_id):
        if plan.every_critical and c.critical_failed:
            chosen[c.call_id] = "critical fail"
        elif plan.every_high_risk and is_high_risk(c, plan):
            chosen[c.call_id] = "high risk"
        else:
            pool[(c.agent_id or "unknown agent", iso_week(c.call_date))].append(c.call_id)
    for (agent, week), calls in sorted(pool.items()):
        rng = random.Random(f"{plan.seed}:{agent}:{week}")
        for call_id in sorted(rng.sample(calls, min(plan.per_agent_per_week, len(calls)))):
            chosen[call_id] = f"random ({agent}, {week})"
    return [Sampled(call_id, reason) for call_id, reason in sorted(chosen.items())]


def spread(call_ids: Sequence[str], reviewers: Sequence[str]) -> list[tuple[str, str]]:
    """(call_id, reviewer) pairs handing the calls out in turn, so every reviewer gets
    the same number of calls (give or take one). Raises ValueError with no reviewers."""
    if not reviewers:
        raise ValueError("choose at least one reviewer to assign to")
    return [(call_id, reviewers[i % len(reviewers)]) for i, call_id in enumerate(call_ids)]
