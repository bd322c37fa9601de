"""Agent and team figures the coaching pages show, from store rows: shifts, speech rate
and silence against the agent's own baseline. Pure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# (name, first hour, hour after the last), call-local time.
SHIFTS = (("early 06-14", 6, 14), ("late 14-22", 14, 22), ("night 22-06", 22, 24),
          ("night 22-06", 0, 6))


def speech_rate(chars: float | None, seconds: float | None) -> float | None:
    """Characters (or words) per minute of the agent's talk; None without talk."""
    if not chars or not seconds or seconds <= 0:
        return None
    return round(60.0 * chars / seconds, 1)


@dataclass(frozen=True)
class AgainstBaseline:
    measure: str
    latest: float | None
    baseline: float | None      # median over the earlier calls
    change: float | None        # latest / baseline - 1
    calls: int


def against_baseline(measure: str, values: list[float | None]) -> AgainstBaseline:
    """The latest value of a measure (oldest first in `values`) against the median of the
    earlier ones; None parts when there is not enough history."""
    known = [v for v in values if v is not None]
    if not known:
        return AgainstBaseline(measure, None, None, None, 0)
    latest, earlier = known[-1], known[:-1]
    if not earlier:
        return AgainstBaseline(measure, latest, None, None, len(known))
    base = statistics.median(earlier)
    change = (latest / base - 1.0) if base else None
    return AgainstBaseline(measure, latest, round(base, 2), None if change is None
                           else round(change, 3), len(known))


def talk_rows(metrics: list[dict]) -> list[dict]:
    """store.agent_talk_metrics rows with `rate_per_min` and `silence_share` added."""
    out = []
    for m in metrics:
        duration = m.get("duration_s") or 0
        out.append({**m, "rate_per_min": speech_rate(m["agent_chars"], m["agent_seconds"]),
                    "silence_share": round(m["gap_s"] / duration, 3) if duration else None})
    return out
