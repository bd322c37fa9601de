"""The store functions the reviewer UI reads and writes through (qa.store, `UI queries`),
on real SQLite files."""

from __future__ import annotations

import datetime as dt

import pytest

from qa import store
from qa.checks import Prediction
from tests.test_store import stored


@pytest.fixture()
def db(tmp_path, zh_rubric):
    database = store.open_store(tmp_path / "qa.db")
    risk = {"c-0001": 0.93, "c-0002": 0.51, "c-0004": 0.2}
    store.write_calls(database, [stored(zh_rubric, f"c-000{i}", predictions={
        "complaint_risk": Prediction("complaint_risk", "complaint", risk[f"c-000{i}"])} if f"c-000{i}" in risk
        else None) for i in range(1, 7)])
    yield database
    database.close()


def test_least_certain_first_puts_predictions_nearest_one_half_first(db):
    order = [r["call_id"] for r in store.list_queue(db, order="uncertain")]
    assert order[:3] == ["c-0002", "c-0004", "c-0001"]
    assert store.list_queue(db, order="uncertain")[0]["uncertainty"] == pytest.approx(0.01)


def test_sampling_candidates_carry_the_complaint_risk(db):
    risk = {r["call_id"]: r["risk"] for r in store.sampling_candidates(db)}
    assert risk["c-0001"] == pytest.approx(0.93) and risk["c-0003"] is None


def test_review_status_and_assignment_filters(db):
    store.add_review(db, "c-0002", "rita", item_id="closing")
    store.raise_dispute(db, "c-0003", "password_request", "li", "我没有索要")
    store.assign_calls(db, [("c-0004", "rita"), ("c-0005", "rob")], "lena")
    store.assign_calls(db, [("c-0005", "rita")], "lena")  # the later assignment counts
    assert store.count_queue(db, review_status="reviewed") == 1
    assert store.count_queue(db, review_status="unreviewed") == 5
    assert [r["call_id"] for r in store.list_queue(db, review_status="open dispute")] == ["c-0003"]
    assert sorted(r["call_id"] for r in store.list_queue(db, assigned_to="rita")) == [
        "c-0004", "c-0005"]
    with pytest.raises(store.StoreError, match="no such call"):
        store.assign_calls(db, [("nope", "rita")], "lena")
    with pytest.raises(ValueError):
        store.list_queue(db, review_status="done")


def test_users_are_stored_hashed_and_authenticated(db):
    store.add_user(db, "lena", "lead", "correct-horse", team="QA")
    assert store.authenticate(db, "lena", "correct-horse")["role"] == "lead"
    assert store.authenticate(db, "lena", "wrong-horse") is None
    assert store.authenticate(db, "nobody", "correct-horse") is None
    assert "password_hash" not in store.get_user(db, "lena")
    assert store.users_with_role(db, "lead") == ["lena"]
    with pytest.raises(ValueError, match="already exists"):
        store.add_user(db, "lena", "reviewer", "correct-horse")


def test_five_failed_sign_ins_in_a_row_lock_a_name_for_fifteen_minutes(db):
    store.add_user(db, "lena", "lead", "correct-horse")
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)

    def sign_in(name: str, password: str, minute: int):
        return store.authenticate(db, name, password, now=start + dt.timedelta(minutes=minute))

    assert not any(sign_in("lena", "guess", m) for m in range(4))
    assert sign_in("lena", "correct-horse", 4)
    assert not any(sign_in("lena", "guess", m) for m in range(5, 10))  # counted since a success
    with pytest.raises(store.SignInLocked, match="after 09:24 UTC"):
        sign_in("lena", "correct-horse", 12)
    assert sign_in("lena", "correct-horse", 24)
    assert not any(sign_in("rob", "guess", m) for m in (0, 5, 10, 15, 21))  # spread out: no lock
    assert sign_in("rob", "guess", 22) is None
    assert not any(sign_in("nobody", "guess", 0) for _ in range(5))
    with pytest.raises(store.SignInLocked):        # unknown names lock alike
        sign_in("nobody", "guess", 1)
    assert [r[0] for r in db.execute("SELECT ok FROM sign_ins WHERE name = 'lena'")] == [
        0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]            # refused attempts are not counted


def test_calibration_ratings_take_each_reviewers_latest_rating(db):
    for reviewer, status in (("rita", "fail"), ("rita", "pass"), ("rob", "fail")):
        store.add_review(db, "c-0002", reviewer, item_id="closing", action="override",
                         status=status, points=10.0 if status == "pass" else 0.0,
                         reason="calibration", purpose="calibration")
    ratings, automatic = store.calibration_ratings(db)
    assert [(r["rater"], r["status"]) for r in ratings] == [("rita", "pass"), ("rob", "fail")]
    assert {(a["item_id"], a["status"]) for a in automatic} >= {("closing", "fail")}


def test_shift_exposure_and_trend_and_talk_metrics(db):
    shifts = (("early", 6, 14), ("late", 14, 22))
    rows = store.shift_exposure(db, shifts)
    li = [r for r in rows if r["agent_id"] == "A023"]
    assert {(r["shift"], r["calls"], r["flagged"]) for r in li} == {("early", 1, 0), ("late", 1, 1)}
    trend = store.score_trend(db, by=None)
    assert [t["week"] for t in trend] == ["2026-11-16"] and trend[0]["calls"] == 6
    talk = store.agent_talk_metrics(db, "A017")
    assert [t["call_id"] for t in talk] == ["c-0001", "c-0004"]
    assert all(t["agent_chars"] > 0 and t["agent_seconds"] > 0 for t in talk)


def test_rule_hit_rates_per_item_and_per_phrase(db):
    per_item = {r["item_id"]: r for r in store.rule_hit_rates(db)}
    assert per_item["password_request"]["calls_hit"] == 1
    assert per_item["password_request"]["hit_rate"] == pytest.approx(1 / 6)
    phrases = {r["evidence"] for r in store.rule_hit_rates(db, by="evidence")}
    assert "不归我管" in phrases


def test_add_reviews_saves_all_or_nothing(db):
    with pytest.raises(ValueError, match="points must be"):
        store.add_reviews(db, "c-0002", "rita", [
            {"item_id": "greeting", "status": "pass"},
            {"item_id": "closing", "status": "pass", "points": 99.0}],
            action="override", reason="calibration", purpose="calibration")
    assert store.reviews_for_call(db, "c-0002") == []
    ids = store.add_reviews(db, "c-0002", "rita", [{"item_id": "greeting"}, {"item_id": "closing"}])
    assert len(ids) == 2 and len(store.reviews_for_call(db, "c-0002")) == 2
