"""How well automatic scoring agrees with reviewers' labels, item by item.

Labelled calls carry, beside the transcript, `labels`: {item_id: "pass"|"fail"|"na", ...,
"forbidden_segments": [indices of agent segments with forbidden language]}. A label of
"critical" counts as "fail". This is what a QA lead runs before trusting a rubric change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from qa.model import Scorecard

FORBIDDEN_ITEM = "forbidden_words"


@dataclass
class ItemAgreement:
    item_id: str
    agree: int = 0
    total: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    disagreements: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else 1.0


@dataclass
class SegmentPrecisionRecall:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    false_hits: list[tuple[str, int]] = field(default_factory=list)
    misses: list[tuple[str, int]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        labelled = self.true_positive + self.false_negative
        return self.true_positive / labelled if labelled else 1.0


@dataclass
class AgreementReport:
    items: dict[str, ItemAgreement]
    forbidden: SegmentPrecisionRecall
    calls: int


def _status(value: str) -> str:
    return "fail" if value == "critical" else value


def agreement(scored: Iterable[tuple[Scorecard, Mapping[str, object]]],
              items: Iterable[str] | None = None) -> AgreementReport:
    """Compare scorecards with their labels. `items` limits the items compared (default:
    every item that has a label)."""
    wanted = set(items) if items is not None else None
    per_item: dict[str, ItemAgreement] = {}
    forbidden = SegmentPrecisionRecall()
    calls = 0
    for card, labels in scored:
        calls += 1
        statuses = {i.item_id: i.status for i in card.items}
        for item_id, label in labels.items():
            if not isinstance(label, str) or item_id not in statuses:
                continue
            if wanted is not None and item_id not in wanted:
                continue
            got, expected = _status(statuses[item_id]), _status(label)
            entry = per_item.setdefault(item_id, ItemAgreement(item_id))
            entry.total += 1
            entry.confusion[(expected, got)] = entry.confusion.get((expected, got), 0) + 1
            if got == expected:
                entry.agree += 1
            else:
                entry.disagreements.append((card.call_id, expected, got))
        if "forbidden_segments" in labels:
            expected_segments = set(labels["forbidden_segments"])  # type: ignore[arg-type]
            found = {f.segment_index for i in card.items if i.item_id == FORBIDDEN_ITEM
                     for f in i.findings if f.passed is False and f.segment_index is not None}
            forbidden.true_positive += len(found & expected_segments)
            forbidden.false_positive += len(found - expected_segments)
            forbidden.false_negative += len(expected_segments - found)
            forbidden.false_hits += [(card.call_id, s) for s in sorted(found - expected_segments)]
            forbidden.misses += [(card.call_id, s) for s in sorted(expected_segments - found)]
    return AgreementReport(per_item, forbidden, calls)
