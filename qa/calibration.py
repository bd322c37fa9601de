"""Calibration maths: how far reviewers who scored the same calls blind agree with each
other and with the automatic scoring. Pure: ratings in, a report out.

A rating is one rater's verdict on one item of one call. Verdicts are compared as
categories (`pass`, `fail`, `na`; `critical` counts as `fail`), points as numbers
(for strictness)."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

AUTOMATIC = "(automatic)"


@dataclass(frozen=True)
class Rating:
    call_id: str
    item_id: str
    rater: str
    status: str
    points: float | None = None
    max: float | None = None

    @property
    def verdict(self) -> str:
        return "fail" if self.status == "critical" else self.status


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels of the same subjects; 1.0 when they agree on
    everything (even a single category), None with no subjects. Raises ValueError when
    the sequences differ in length."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same subjects")
    if not a:
        return None
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from a subjects x categories table of counts (each row: how many
    raters put the subject in each category; every row has the same number of raters,
    at least two). None with no subjects; 1.0 when all raters always agree. Raises
    ValueError for rows with different rater counts or fewer than two raters."""
    if not table:
        return None
    raters = {sum(row) for row in table}
    if len(raters) != 1:
        raise ValueError("every subject needs the same number of raters")
    n = raters.pop()
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least two raters per subject")
    subjects = len(table)
    categories = len(table[0])
    p_j = [sum(row[j] for row in table) / (subjects * n) for j in range(categories)]
    p_i = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in table]
    p_bar = sum(p_i) / subjects
    p_e = sum(p * p for p in p_j)
    if p_e >= 1.0:
        return 1.0 if p_bar == 1.0 else 0.0
    return (p_bar - p_e) / (1.0 - p_e)


@dataclass(frozen=True)
class ItemAgreement:
    item_id: str
    calls: int          # calls every rater scored on this item
    unanimous: int      # of those, calls where all raters gave the same verdict
    automatic_agrees: int  # calls where the automatic verdict matched every rater

    @property
    def rate(self) -> float | None:
        return self.unanimous / self.calls if self.calls else None


@dataclass(frozen=True)
class RaterLeniency:
    rater: str
    ratings: int
    pass_rate: float     # share of applicable items passed
    mean_points_share: float | None  # points awarded / max, over applicable items
    vs_automatic: float | None       # Cohen's kappa against the automatic scoring


@dataclass
class CalibrationReport:
    raters: list[str]
    calls: list[str]
    items: list[ItemAgreement]
    pairwise: dict[tuple[str, str], float | None]
    fleiss: float | None
    leniency: list[RaterLeniency] = field(default_factory=list)

    @property
    def strictest(self) -> RaterLeniency | None:
        return self.leniency[0] if self.leniency else None

    @property
    def most_lenient(self) -> RaterLeniency | None:
        return self.leniency[-1] if len(self.leniency) > 1 else None


def calibration_report(ratings: Iterable[Rating],
                       automatic: Iterable[Rating] = ()) -> CalibrationReport:
    """Agreement of the raters over the (call, item) pairs each of them rated: per-item
    unanimity, Cohen's kappa per pair of raters (over the pairs both rated), Fleiss' kappa
    (over the pairs every rater rated), and per rater the pass rate, points share and
    kappa against the automatic scoring. Leniency is sorted strictest first."""
    by_key: dict[tuple[str, str], dict[str, Rating]] = defaultdict(dict)
    for r in ratings:
        by_key[(r.call_id, r.item_id)][r.rater] = r  # the latest rating of a rater counts
    auto = {(r.call_id, r.item_id): r for r in automatic}
    raters = sorted({rater for given in by_key.values() for rater in given})
    complete = sorted(k for k, given in by_key.items() if len(given) == len(raters))

    items: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key in complete:
        verdicts = {r.verdict for r in by_key[key].values()}
        entry = items[key[1]]
        entry[0] += 1
        entry[1] += len(verdicts) == 1
        entry[2] += key in auto and verdicts == {auto[key].verdict}

    pairwise: dict[tuple[str, str], float | None] = {}
    for a, b in itertools.combinations(raters, 2):
        shared = sorted(k for k, given in by_key.items() if a in given and b in given)
        pairwise[(a, b)] = cohen_kappa([by_key[k][a].verdict for k in shared],
                                       [by_key[k][b].verdict for k in shared])

    fleiss = None
    if len(raters) >= 2 and complete:
        categories = sorted({r.verdict for k in complete for r in by_key[k].values()})
        fleiss = fleiss_kappa([[sum(r.verdict == c for r in by_key[k].values())
                                for c in categories] for k in complete])

    leniency = []
    for rater in raters:
        mine = [(k, given[rater]) for k, given in by_key.items() if rater in given]
        applicable = [r for _, r in mine if r.verdict != "na"]
        shares = [r.points / r.max for r in applicable
                  if r.points is not None and r.max]
        with_auto = [(r.verdict, auto[k].verdict) for k, r in mine if k in auto]
        leniency.append(RaterLeniency(
            rater=rater, ratings=len(mine),
            pass_rate=(sum(r.verdict == "pass" for r in applicable) / len(applicable)
                       if applicable else math.nan),
            mean_points_share=sum(shares) / len(shares) if shares else None,
            vs_automatic=cohen_kappa([x for x, _ in with_auto], [y for _, y in with_auto])
            if with_auto else None))
    leniency.sort(key=lambda x: (x.mean_points_share if x.mean_points_share is not None
                                 else x.pass_rate, x.rater))
    return CalibrationReport(
        raters=raters, calls=sorted({k[0] for k in by_key}),
        items=[ItemAgreement(item, *counts) for item, counts in sorted(items.items())],
        pairwise=pairwise, fleiss=fleiss, leniency=leniency)


def points_for(status: str, maximum: float, points: float | None = None) -> float | None:
    """The points a rating gives: as entered, else full marks for pass, 0 for fail or
    critical, None for N/A."""
    if points is not None:
        return points
    if status == "pass":
        return maximum
    if status in ("fail", "critical"):
        return 0.0
    return None


def ratings_from_rows(rows: Iterable[dict]) -> list[Rating]:
    """Ratings from store rows (call_id, item_id, rater, status, points, max)."""
    return [Rating(r["call_id"], r["item_id"], r["rater"], r["status"], r["points"], r["max"])
            for r in rows]
