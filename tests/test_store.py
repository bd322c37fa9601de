"""qa.store on real SQLite files: schema and migrations, writing scored calls, search,
and the append-only records reviewers write."""

from __future__ import annotations

import sqlite3

import pytest

from qa import store
from qa.rubric import score_transcript
from qa.transcripts import read_transcript
from tests.batchdata import SAMPLES, query, scalar


def stored(rubric, name: str, work_key: str | None = None, **changes) -> store.StoredCall:
    transcript = read_transcript(SAMPLES / f"{name}.json")
    card = score_transcript(rubric, transcript)
    return store.build_stored_call(transcript, card, content_sha256=f"sha-{name}",
                                   work_key=work_key or f"key-{name}",
                                   engine_id="transcript-json", source_path=name,
                                   source_kind="transcript", **changes)


@pytest.fixture()
def db(tmp_path, zh_rubric):
    database = store.open_store(tmp_path / "qa.db")
    store.write_calls(database, [stored(zh_rubric, f"c-000{i}") for i in range(1, 7)])
    yield database
    database.close()


def test_a_new_database_is_at_the_current_schema_in_wal_mode(tmp_path):
    db = store.open_store(tmp_path / "new.db")
    assert store.schema_version(db) == store.SCHEMA_VERSION
    assert db.journal_mode == "wal"
    assert {"calls", "segments", "segments_fts", "scores", "item_scores", "findings",
            "predictions", "reviews", "coaching_notes", "disputes", "dispute_decisions",
            "finding_feedback", "runs", "failures", "transcripts"} <= set(db.table_names())


def test_a_version_1_database_is_upgraded_in_place_and_keeps_its_data(tmp_path, zh_rubric):
    path = tmp_path / "old.db"
    old = store.open_store(path, upgrade=False)
    assert store.migrate(old, target=1) == 1
    written_by_version_1 = stored(zh_rubric, "c-0001")
    del written_by_version_1.score["rubric_fingerprint"]  # a column of migration 6
    store.write_calls(old, [written_by_version_1])
    assert "reviews" not in old.table_names()
    old.close()

    upgraded = store.open_store(path)
    assert store.schema_version(upgraded) == store.SCHEMA_VERSION
    assert [r[0] for r in upgraded.execute("SELECT version FROM schema_version ORDER BY 1")] == \
        list(range(1, store.SCHEMA_VERSION + 1))
    assert store.get_call(upgraded, "c-0001")["agent_name"] == "王敏"
    assert "idx_item_scores_item_id_status" in {i.name for i in upgraded["item_scores"].indexes}
    assert store.add_review(upgraded, "c-0001", "qa.lead", item_id="greeting") > 0
    assert store.rubric_fingerprints_in_force(upgraded, "zh-bank-hotline", zh_rubric.version) \
        == {"": 1}  # scored before fingerprints were kept
    assert store.integrity_check(upgraded) == "ok"


def test_a_database_from_a_newer_callqa_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "future.db"
    store.open_store(path).execute("INSERT INTO schema_version VALUES (99, 'future', 'x')")
    with pytest.raises(store.StoreError, match="schema version 99 is newer"):
        store.open_store(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"plain text, not SQLite " * 50)
    with pytest.raises(store.StoreError, match="notes.db"):
        store.open_store(path)
    with pytest.raises(store.StoreError, match="no such database"):
        store.open_store(tmp_path / "absent.db", create=False)


def test_a_call_is_written_with_its_score_items_and_findings(db):
    call = store.get_call(db, "c-0002")
    assert (call["agent_id"], call["agent_name"], call["call_date"]) == ("A023", "李强", "2026-11-20")
    assert len(call["segments"]) == call["segment_count"] > 0
    [score] = call["scores"]
    assert score["is_current"] == 1
    forbidden = next(i for i in score["items"] if i["item_id"] == "forbidden_words")
    assert forbidden["status"] in ("fail", "critical") and forbidden["findings"]
    assert all(f["evidence"] for f in forbidden["findings"] if f["passed"] is False)


def test_search_finds_chinese_substrings_through_the_trigram_index(db):
    hits = store.search_segments(db, "临时额度")
    assert hits and all("临时额度" in h["text"] for h in hits)
    assert {h["call_id"] for h in hits} >= {"c-0001"}
    hit = hits[0]
    assert hit["text"][hit["match_start"]:hit["match_end"]] == "临时额度"
    assert store.search_segments(db, "臨時額度") == hits  # Traditional finds Simplified
    assert store.search_segments(db, "额度")  # two characters: below the trigram size
    assert store.search_segments(db, "不存在的句子") == []
    plan = " ".join(str(r) for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM segments_fts WHERE segments_fts MATCH '\"临时额度\"'"))
    assert "VIRTUAL TABLE INDEX" in plan


def test_calls_are_listed_and_filtered_by_agent_date_score_and_failed_item(db):
    assert store.count_calls(db) == 6
    by_agent = store.list_calls(db, store.CallFilter(agent_id="A017"))
    assert [c["call_id"] for c in by_agent] == ["c-0004", "c-0001"]  # newest first
    low_first = store.list_calls(db, order="score")
    assert [c["percent"] for c in low_first] == sorted(c["percent"] for c in low_first)
    failed = store.list_calls(db, store.CallFilter(failed_item="forbidden_words"))
    assert "c-0002" in {c["call_id"] for c in failed}
    assert "c-0001" not in {c["call_id"] for c in failed}
    critical = store.list_calls(db, store.CallFilter(critical_only=True))
    assert {c["call_id"] for c in critical} >= {"c-0003"}
    assert store.count_calls(db, store.CallFilter(date_from="2026-11-21", date_to="2026-11-21")) == 2
    assert store.count_calls(db, store.CallFilter(team="理财二组")) == 1


def test_a_new_rubric_version_keeps_the_old_score_as_history(db, zh_rubric):
    newer = stored(zh_rubric, "c-0001", work_key="key-c-0001-v2")
    newer.score["rubric_version"] = "2.0.0"
    store.write_calls(db, [newer])
    rows = query(db.conn.execute("PRAGMA database_list").fetchone()[2],
                 "SELECT rubric_version, is_current FROM scores WHERE call_id = 'c-0001' "
                 "ORDER BY score_id")
    assert rows == [(zh_rubric.version, 0), ("2.0.0", 1)]
    assert store.count_calls(db) == 6


def test_reviews_are_an_append_only_audit_trail(db):
    first = store.add_review(db, "c-0002", "rev.li", item_id="forbidden_words",
                             action="override", status="pass",
                             reason="the customer said it, not the agent")
    store.add_review(db, "c-0002", "rev.wang", item_id="forbidden_words", action="override",
                     status="fail", reason="agent did say it at 40s", based_on=first)
    trail = store.reviews_for_call(db, "c-0002")
    assert [r["reviewer"] for r in trail] == ["rev.li", "rev.wang"]
    assert trail[1]["based_on"] == first
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE reviews SET status = 'pass'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM reviews")
    with pytest.raises(ValueError, match="reason"):
        store.add_review(db, "c-0002", "rev.li", item_id="greeting", action="override",
                         status="fail")
    with pytest.raises(store.StoreError):
        store.add_review(db, "c-0002", "rev.li", item_id="no_such_item")


def test_the_reviewed_score_records_both_the_automatic_and_the_reviewed_value(db):
    auto = store.reviewed_score(db, "c-0001")
    assert auto["reviewed"] is False and auto["total"] == auto["automatic_total"]
    store.add_review(db, "c-0001", "rev.li", item_id="greeting", action="override",
                     status="fail", reason="greeting was cut off")
    reviewed = store.reviewed_score(db, "c-0001")
    greeting = next(i for i in reviewed["items"] if i["item_id"] == "greeting")
    assert greeting["automatic_status"] == "pass" and greeting["status"] == "fail"
    assert reviewed["total"] == auto["total"] - greeting["max"]
    assert reviewed["automatic_total"] == auto["automatic_total"]


def test_disputes_are_decided_once_and_an_accepted_one_changes_the_reviewed_score(db):
    dispute = store.raise_dispute(db, "c-0002", "forbidden_words", "A023",
                                  "I was quoting the customer")
    assert store.list_disputes(db, open_only=True)[0]["dispute_id"] == dispute
    item_max = next(i["max"] for i in store.reviewed_score(db, "c-0002")["items"]
                    if i["item_id"] == "forbidden_words")
    store.decide_dispute(db, dispute, "qa.lead", "accepted", "agreed", points=item_max)
    with pytest.raises(ValueError, match="already decided"):
        store.decide_dispute(db, dispute, "qa.lead", "rejected")
    assert store.list_disputes(db, open_only=True) == []
    item = next(i for i in store.reviewed_score(db, "c-0002")["items"]
                if i["item_id"] == "forbidden_words")
    assert item["points"] == item_max and item["automatic_points"] < item_max


def test_coaching_notes_by_agent_and_an_edit_supersedes_the_old_note(db):
    note = store.add_coaching_note(db, "c-0002", "trainer.zhao", "语气需要更耐心",
                                   category="tone", suggested_phrase="请您稍等，我马上为您查询",
                                   item_id="forbidden_words")
    store.add_coaching_note(db, "c-0002", "trainer.zhao", "语气需要更耐心，避免说不归我管",
                            category="tone", supersedes=note)
    agent = store.get_call(db, "c-0002")["agent_id"]
    notes = store.coaching_notes(db, agent_id=agent)
    assert [n["note"] for n in notes] == ["语气需要更耐心，避免说不归我管"]
    with pytest.raises(ValueError):
        store.add_coaching_note(db, "c-0002", "trainer.zhao", "   ")


def test_false_hit_feedback_gives_per_rule_precision(db):
    hits = [f for f in store.get_call(db, "c-0002")["scores"][0]["items"]
            if f["item_id"] == "forbidden_words"][0]["findings"]
    failed = [f["finding_id"] for f in hits if f["passed"] is False]
    store.add_finding_feedback(db, failed[0], "rev.li", "false_hit", "quoted the customer")
    store.add_finding_feedback(db, failed[0], "rev.li", "correct", "re-listened: agent said it")
    [row] = store.rule_precision(db)
    assert row["item_id"] == "forbidden_words" and row["reviewed"] == 1
    assert row["precision"] == 1.0  # the latest verdict on a finding counts


def test_item_pass_rates_per_team(db):
    rates = store.item_pass_rates(db, group_by="team")
    greeting = [r for r in rates if r["item_id"] == "greeting"]
    assert greeting and all(0 <= r["pass_rate"] <= 1 for r in greeting)
    assert sum(r["applicable"] for r in greeting) <= 6


def test_reviewed_labels_give_the_latest_reviewed_status_per_call_and_item(db):
    store.add_review(db, "c-0001", "rev.li", item_id="greeting")
    store.add_review(db, "c-0002", "rev.li", item_id="forbidden_words", action="override",
                     status="pass", reason="quoted the customer")
    store.add_review(db, "c-0002", "rev.wang", item_id="forbidden_words", action="override",
                     status="fail", reason="re-listened")
    store.add_review(db, "c-0003", "rev.wang", item_id="greeting", action="override",
                     status="fail", reason="calibration only", purpose="calibration")
    labels = {(r["call_id"], r["item_id"]): r for r in store.reviewed_labels(db)}
    assert set(labels) == {("c-0001", "greeting"), ("c-0002", "forbidden_words")}
    assert labels[("c-0001", "greeting")]["label"] == labels[("c-0001", "greeting")]["automatic_status"]
    assert labels[("c-0002", "forbidden_words")]["label"] == "fail"
    assert labels[("c-0002", "forbidden_words")]["reviewer"] == "rev.wang"
    assert [r["call_id"] for r in store.reviewed_labels(db, item_id="greeting")] == ["c-0001"]


def test_feedback_segments_carry_the_segment_text_of_each_judged_hit(db):
    items = store.get_call(db, "c-0002")["scores"][0]["items"]
    hit = next(f for i in items if i["item_id"] == "forbidden_words" for f in i["findings"]
               if f["passed"] is False and f["segment_index"] is not None)
    store.add_finding_feedback(db, hit["finding_id"], "rev.li", "false_hit")
    [row] = store.feedback_segments(db)
    segment = store.get_call(db, "c-0002")["segments"][hit["segment_index"]]
    assert (row["verdict"], row["text"], row["speaker"]) == ("false_hit", segment["text"], "agent")
