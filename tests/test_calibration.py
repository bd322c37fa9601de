"""Calibration maths (qa.calibration) on worked examples, and sampling and users (pure)."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import cohen_kappa_score

from qa.calibration import Rating, calibration_report, cohen_kappa, fleiss_kappa, points_for
from qa.sampling import Candidate, SamplingPlan, draw_sample, iso_week, spread
from qa.users import User, check_user, hash_password, verify_password

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
FLEISS_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_is_one_when_raters_always_agree_and_refuses_uneven_rows():
    assert fleiss_kappa([[3, 0], [0, 3]]) == 1.0
    assert fleiss_kappa([[3, 0], [3, 0]]) == 1.0
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])


def test_cohen_kappa_matches_scikit_learn_on_random_labels():
    rng = random.Random(7)
    for _ in range(20):
        a = [rng.choice("pfn") for _ in range(30)]
        b = [x if rng.random() < 0.6 else rng.choice("pfn") for x in a]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_cohen_kappa_edge_cases():
    assert cohen_kappa(["pass"] * 4, ["pass"] * 4) == 1.0
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["pass"], [])


def _ratings(rater, verdicts, call="c1"):
    return [Rating(call, f"i{n}", rater, status, points_for(status, 10.0), 10.0)
            for n, status in enumerate(verdicts)]


def test_the_report_names_the_strictest_and_most_lenient_and_compares_with_automatic():
    auto = _ratings("auto", ["pass", "pass", "fail", "pass"])
    ratings = (_ratings("ann", ["pass", "pass", "fail", "pass"])
               + _ratings("bob", ["fail", "fail", "fail", "pass"])
               + _ratings("cat", ["pass", "pass", "pass", "pass"]))
    report = calibration_report(ratings, auto)
    assert report.raters == ["ann", "bob", "cat"]
    assert report.strictest.rater == "bob" and report.most_lenient.rater == "cat"
    ann = next(r for r in report.leniency if r.rater == "ann")
    assert ann.vs_automatic == 1.0
    by_item = {i.item_id: i for i in report.items}
    assert (by_item["i3"].unanimous, by_item["i3"].automatic_agrees) == (1, 1)
    assert by_item["i0"].unanimous == 0
    assert report.pairwise[("ann", "cat")] == pytest.approx(cohen_kappa_score(
        ["p", "p", "f", "p"], ["p", "p", "p", "p"]))
    assert report.fleiss is not None and report.fleiss < 1.0


def test_a_critical_rating_counts_as_a_fail_and_the_latest_rating_counts():
    report = calibration_report([Rating("c", "i", "ann", "pass"), Rating("c", "i", "ann", "critical"),
                                 Rating("c", "i", "bob", "fail")])
    assert report.items[0].unanimous == 1 and report.fleiss == 1.0


def test_sampling_takes_every_critical_and_high_risk_call_and_n_per_agent_week():
    calls = [Candidate(f"c{i:02d}", f"A{i % 2}", f"2026-11-{2 + i % 14:02d}") for i in range(28)]
    calls += [Candidate("crit", "A0", "2026-11-02", critical_failed=True),
              Candidate("abuse", "A1", "2026-11-02", flags=("customer_abuse",)),
              Candidate("risky", "A1", "2026-11-03", risk=0.91),
              Candidate("calm", "A1", "2026-11-03", risk=0.2)]
    plan = SamplingPlan(per_agent_per_week=2, seed="s")
    sample = {s.call_id: s.reason for s in draw_sample(calls, plan)}
    assert sample["crit"] == "critical fail"
    assert sample["abuse"] == sample["risky"] == "high risk"
    random_picks = [r for r in sample.values() if r.startswith("random")]
    weeks = {iso_week(c.call_date) for c in calls}
    assert len(random_picks) == 2 * 2 * len(weeks)
    assert draw_sample(calls, plan) == draw_sample(list(reversed(calls)), plan)
    assert draw_sample(calls, SamplingPlan(2, seed="other")) != draw_sample(calls, plan)


def test_spread_hands_calls_out_in_turn():
    assert spread(["a", "b", "c"], ["x", "y"]) == [("a", "x"), ("b", "y"), ("c", "x")]
    with pytest.raises(ValueError):
        spread(["a"], [])


def test_passwords_are_salted_hashes_that_verify():
    first, second = hash_password("correct-horse"), hash_password("correct-horse")
    assert first != second and "correct-horse" not in first
    assert verify_password("correct-horse", first) and not verify_password("wrong-horse", first)
    assert not verify_password("correct-horse", "garbage")
    with pytest.raises(ValueError, match="8 characters"):
        hash_password("short")


def test_roles_and_user_checks():
    assert User("a", "lead").can("decide") and not User("a", "reviewer").can("decide")
    assert User("a", "agent", "A1").own_calls_only and not User("a", "agent").can("review")
    with pytest.raises(ValueError, match="--agent-id"):
        check_user("li", "agent", None)
    with pytest.raises(ValueError, match="role"):
        check_user("li", "boss", None)
