"""The reviewer UI (app.py and pages/), driven by streamlit.testing.v1.AppTest against a
real SQLite file built by the real `qa batch` command (tests/uidata.py). Every write path
is checked in the database afterwards."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from qa import store  # noqa: E402
from qa.users import User  # noqa: E402
from tests.batchdata import query  # noqa: E402
from tests.uidata import APP, build_database, copy_database  # noqa: E402

REVIEWER = User("rita", "reviewer")
OTHER_REVIEWER = User("rob", "reviewer")
LEAD = User("lena", "lead")
AGENT_LI = User("li.qiang", "agent", agent_id="A023")
CALL, CALIBRATION, DISPUTES, AGENTS, RULES, SAMPLING, REPORTS, SCORER = (
    "pages/1_Call.py", "pages/3_Calibration.py", "pages/2_Disputes.py",
    "pages/4_Agents_and_teams.py", "pages/5_Rules.py", "pages/6_Sampling.py",
    "pages/7_Reports.py", "pages/8_Score_a_transcript.py")


@pytest.fixture(scope="session")
def built_db(tmp_path_factory):
    return build_database(tmp_path_factory.mktemp("ui"))


@pytest.fixture()
def db_path(built_db, tmp_path, monkeypatch):
    path = copy_database(built_db, tmp_path / "qa.db")
    monkeypatch.setenv("QA_DB", str(path))
    monkeypatch.setenv("QA_UI_DEMO", "0")
    return path


def open_page(page: str | None = None, user: User | None = REVIEWER, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.session_state["user"] = user
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, label: str) -> AppTest:
    button = next(b for b in at.button if b.label == label)
    button.click().run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


# --- queue ---------------------------------------------------------------------------

def test_the_queue_lists_every_scored_call_with_links_to_the_call_view(db_path):
    at = open_page()
    table = at.dataframe[0].value
    assert sorted(table["call"]) == ["au-0001", "au-0002", "c-0001", "c-0002", "c-0003",
                                     "c-0004", "c-0005", "c-0006"]
    assert set(table["open"]) >= {"Call?call_id=c-0003"}
    assert "8 calls match" in at.caption[0].value


def test_queue_filters_by_agent_and_by_critical_fail(db_path):
    at = open_page()
    at.selectbox(key="q_agent").select("A017")
    click(at, "Apply filters")
    assert sorted(at.dataframe[0].value["call"]) == ["c-0001", "c-0004"]
    at.selectbox(key="q_agent").select("(all)")
    at.selectbox(key="q_flag").select("critical fail")
    click(at, "Apply filters")
    assert list(at.dataframe[0].value["call"]) == ["c-0003"]


def test_queue_filters_by_flag_failed_item_score_and_review_status(db_path):
    at = open_page()
    at.selectbox(key="q_flag").select("customer abuse")
    click(at, "Apply filters")
    assert list(at.dataframe[0].value["call"]) == ["c-0006"]
    at.selectbox(key="q_flag").select("(all)")
    at.selectbox(key="q_failed").select("password_request")
    click(at, "Apply filters")
    assert list(at.dataframe[0].value["call"]) == ["c-0003"]
    at.selectbox(key="q_failed").select("(all)")
    at.slider(key="q_score").set_value((95, 100))
    click(at, "Apply filters")
    assert all(p >= 95 for p in at.dataframe[0].value["score %"])
    db = store.open_store(db_path)
    store.add_review(db, "c-0005", "rita", item_id="greeting")
    at.slider(key="q_score").set_value((0, 100))
    at.selectbox(key="q_status").select("reviewed")
    click(at, "Apply filters")
    assert list(at.dataframe[0].value["call"]) == ["c-0005"]


def test_the_open_button_goes_to_the_call_view(db_path):
    at = open_page()
    at.selectbox(key="queue_pick").select("c-0002")
    click(at, "Open")
    assert at.title[0].value == "Call c-0002"


def test_an_agent_sees_only_their_own_calls(db_path):
    at = open_page(user=AGENT_LI)
    assert set(at.dataframe[0].value["call"]) == {"c-0002", "c-0006", "au-0001", "au-0002"}
    call = open_page(CALL, user=AGENT_LI, call_id="c-0001")
    assert any("not one of your calls" in e for e in texts(call.error))
    assert not [b for b in call.button if b.label == "Save review"]


# --- sign-in and bad input -------------------------------------------------------------

def test_without_users_the_ui_says_how_to_add_one(db_path):
    at = open_page(user=None)
    assert any("qa users add" in e for e in texts(at.error))


def test_sign_in_takes_the_right_password_only(db_path):
    store.add_user(store.open_store(db_path), "lena", "lead", "correct-horse")
    at = open_page(user=None)
    at.text_input[0].input("lena")
    at.text_input[1].input("wrong-password")
    click(at, "Sign in")
    assert "Unknown user or wrong password." in texts(at.error)
    at.text_input[1].input("correct-horse")
    click(at, "Sign in")
    assert at.title[0].value == "Review queue"
    assert at.session_state["user"] == User("lena", "lead")


def test_five_wrong_passwords_lock_the_sign_in_even_with_the_right_one(db_path):
    store.add_user(store.open_store(db_path), "lena", "lead", "correct-horse")
    at = open_page(user=None)
    at.text_input[0].input("lena")
    for attempt in range(5):
        at.text_input[1].input(f"wrong-{attempt}")
        click(at, "Sign in")
    at.text_input[1].input("correct-horse")
    click(at, "Sign in")
    assert any(e.startswith("Sign-in refused: too many failed sign-ins") for e in texts(at.error))
    assert "user" not in at.session_state


def test_demo_mode_signs_in_a_demo_reviewer(db_path, monkeypatch):
    monkeypatch.setenv("QA_UI_DEMO", "1")
    at = open_page(user=None)
    assert at.title[0].value == "Review queue"
    assert at.session_state["user"].role == "reviewer"


def test_an_unknown_call_id_in_the_url_is_a_clear_message(db_path):
    at = open_page(CALL, call_id="no-such-call")
    assert any("no call 'no-such-call'" in e for e in texts(at.error))


def test_a_missing_database_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_DB", str(tmp_path / "absent.db"))
    at = open_page()
    assert any("no such database" in e for e in texts(at.error))


def test_a_database_from_a_newer_callqa_is_a_clear_message(tmp_path, monkeypatch):
    path = tmp_path / "future.db"
    store.open_store(path).execute("INSERT INTO schema_version VALUES (99, 'future', 'x')")
    monkeypatch.setenv("QA_DB", str(path))
    at = open_page(CALL, call_id="c-0001")
    assert any("schema version 99 is newer" in e for e in texts(at.error))


# --- call view -------------------------------------------------------------------------

def test_the_call_view_shows_evidence_role_colours_and_the_scorecard(db_path):
    at = open_page(CALL, call_id="c-0002")
    assert at.title[0].value == "Call c-0002"
    html = [m for m in texts(at.markdown) if "border-left" in m]
    assert any("<mark" in m and "不归我管" in m for m in html)
    assert any("#1f5fa8" in m for m in html) and any("#2e7d32" in m for m in html)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Automatic score"] == "55 / 90"
    lost = [b.label for b in at.button if b.label.startswith("−")]
    assert len(lost) == 4 and any(label.startswith("−15 服务禁语: forbidden") for label in lost)
    table = at.dataframe[0].value
    assert list(table["automatic"]) == ["pass 10/10", "FAIL 0/5"]


def test_clicking_a_segment_starts_the_audio_there(db_path):
    at = open_page(CALL, call_id="au-0001")
    [audio] = at.get("audio")
    assert audio.proto.start_time == 0
    segment = [b for b in at.button if b.label.startswith("▶")][3]
    segment.click().run()
    [audio] = at.get("audio")
    assert audio.proto.start_time == int(float(segment.label.split()[1].split(":")[1]))


def test_a_recording_that_has_moved_is_a_warning_not_a_traceback(db_path):
    at = open_page(CALL, call_id="au-0002")
    assert any("moved.wav" in w and "moved or deleted" in w for w in texts(at.warning))
    assert at.title[0].value == "Call au-0002"


def test_an_override_with_a_reason_is_saved_and_changes_the_reviewed_score(db_path):
    at = open_page(CALL, call_id="c-0002")
    at.selectbox(key="rv_item").select("closing")
    at.radio(key="rv_action").set_value("override")
    at.selectbox(key="rv_status").select("pass")
    at.text_area(key="rv_reason").input("客户先挂断，坐席无法结束语")
    click(at, "Save review")
    rows = query(db_path, "SELECT reviewer, item_id, action, status, reason FROM reviews")
    assert rows == [("rita", "closing", "override", "pass", "客户先挂断，坐席无法结束语")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Reviewed score"] == "65 / 90"
    reloaded = open_page(CALL, call_id="c-0002")
    assert {m.label: m.value for m in reloaded.metric}["Reviewed score"] == "65 / 90"


def test_an_override_without_a_reason_is_refused_and_nothing_is_saved(db_path):
    at = open_page(CALL, call_id="c-0002")
    at.selectbox(key="rv_item").select("closing")
    at.radio(key="rv_action").set_value("override")
    at.selectbox(key="rv_status").select("pass")
    click(at, "Save review")
    assert any("needs a reason" in e for e in texts(at.error))
    assert query(db_path, "SELECT COUNT(*) FROM reviews") == [(0,)]


def test_two_reviewers_on_one_call_keep_both_reviews_and_see_a_warning(db_path):
    mine = open_page(CALL, call_id="c-0002")
    theirs = open_page(CALL, user=OTHER_REVIEWER, call_id="c-0002")
    theirs.selectbox(key="rv_item").select("self_intro")
    theirs.radio(key="rv_action").set_value("override")
    theirs.selectbox(key="rv_status").select("pass")
    theirs.text_area(key="rv_reason").input("报了工号")
    click(theirs, "Save review")
    mine.selectbox(key="rv_item").select("closing")
    mine.radio(key="rv_action").set_value("override")
    mine.selectbox(key="rv_status").select("pass")
    mine.text_area(key="rv_reason").input("客户先挂断")
    click(mine, "Save review")
    assert any("rob reviewed this call after you opened it" in w for w in texts(mine.warning))
    rows = query(db_path, "SELECT reviewer, item_id, based_on FROM reviews ORDER BY review_id")
    assert [r[:2] for r in rows] == [("rob", "self_intro"), ("rita", "closing")]
    final = store.reviewed_score(store.open_store(db_path), "c-0002")
    assert {i["item_id"]: i["status"] for i in final["items"]}["self_intro"] == "pass"
    assert {i["item_id"]: i["status"] for i in final["items"]}["closing"] == "pass"


def test_marking_a_rule_hit_false_feeds_rule_precision(db_path):
    at = open_page(CALL, call_id="c-0002")
    finding = query(db_path, "SELECT finding_id FROM findings WHERE call_id = 'c-0002' AND "
                             "evidence = '你找别人去'")[0][0]
    at.selectbox(key="fb_hit").select(finding)
    at.radio(key="fb_verdict").set_value("false_hit")
    at.text_input(key="fb_reason").input("a transfer to the right team, not shirking")
    click(at, "Save verdict")
    assert query(db_path, "SELECT finding_id, verdict, reviewer FROM finding_feedback") == [
        (finding, "false_hit", "rita")]
    rules = open_page(RULES)
    phrases = rules.dataframe[1].value
    row = phrases[phrases["phrase"] == "你找别人去"].iloc[0]
    assert (row["reviewed"], row["false hits"], row["precision"]) == (1, 1, 0.0)


def test_a_coaching_note_is_appended_with_category_and_suggested_phrase(db_path):
    at = open_page(CALL, call_id="c-0002")
    at.selectbox(key="cn_category").select("courtesy and tone")
    at.selectbox(key="cn_item").select("forbidden_words")
    at.text_area(key="cn_note").input("避免推诿客户")
    at.text_input(key="cn_phrase").input("这个问题我帮您转到专门的同事处理")
    click(at, "Add note")
    assert query(db_path, "SELECT author, agent_id, category, item_id, note, suggested_phrase "
                          "FROM coaching_notes") == [
        ("rita", "A023", "courtesy and tone", "forbidden_words", "避免推诿客户",
         "这个问题我帮您转到专门的同事处理")]
    assert any("避免推诿客户" in i for i in texts(at.info))



def test_a_note_replaced_by_its_author_leaves_the_old_one_in_the_audit_trail(db_path):
    at = open_page(CALL, call_id="c-0002")
    assert "cn_replaces" not in [s.key for s in at.selectbox]   # nothing of hers to replace
    at.text_area(key="cn_note").input("语速太快")
    click(at, "Add note")
    (first,), = query(db_path, "SELECT note_id FROM coaching_notes")
    at.selectbox(key="cn_replaces").select(first)
    at.text_area(key="cn_note").input("开场语速太快，放慢一些")
    click(at, "Add note")
    assert query(db_path, "SELECT note, supersedes FROM coaching_notes ORDER BY note_id") == [
        ("语速太快", None), ("开场语速太快，放慢一些", first)]
    assert [n["note"] for n in store.coaching_notes(store.open_store(db_path),
                                                    call_id="c-0002")] == ["开场语速太快，放慢一些"]
    other = open_page(CALL, user=OTHER_REVIEWER, call_id="c-0002")
    assert "cn_replaces" not in [s.key for s in other.selectbox]  # only the author edits


def test_showing_unmasked_text_is_written_to_the_audit_trail_once_per_switch_on(db_path):
    at = open_page(CALL, user=LEAD, call_id="c-0002")
    assert query(db_path, "SELECT COUNT(*) FROM reveals") == [(0,)]
    at.toggle(key="reveal").set_value(True).run()
    at.run()                                                    # a rerun is not a new view
    assert query(db_path, "SELECT call_id, viewer, role FROM reveals") == [
        ("c-0002", "lena", "lead")]
    assert any("unmasked text shown to lena" in c for c in texts(at.caption))
    at.toggle(key="reveal").set_value(False).run()
    at.toggle(key="reveal").set_value(True).run()
    assert query(db_path, "SELECT COUNT(*) FROM reveals") == [(2,)]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite3.connect(db_path).execute("DELETE FROM reveals")

# --- disputes --------------------------------------------------------------------------

def test_an_agent_disputes_an_item_and_a_lead_accepts_it(db_path):
    at = open_page(CALL, user=AGENT_LI, call_id="c-0002")
    at.selectbox(key="dp_item").select("closing")
    at.text_area(key="dp_comment").input("客户先挂断了")
    click(at, "Raise dispute")
    assert query(db_path, "SELECT raised_by, role, item_id FROM disputes") == [
        ("li.qiang", "agent", "closing")]
    lead = open_page(DISPUTES, user=LEAD)
    assert list(lead.dataframe[0].value["status"]) == ["open"]
    lead.radio(key="dd_outcome").set_value("accepted")
    lead.text_area(key="dd_comment").input("录音确认客户先挂断")
    click(lead, "Save decision")
    assert query(db_path, "SELECT decided_by, outcome, points FROM dispute_decisions") == [
        ("lena", "accepted", 10.0)]
    final = store.reviewed_score(store.open_store(db_path), "c-0002")
    closing = next(i for i in final["items"] if i["item_id"] == "closing")
    assert (closing["automatic_points"], closing["points"]) == (0.0, 10.0)
    assert (final["automatic_total"], final["total"]) == (55.0, 65.0)
    lead.toggle(key="dp_open_only").set_value(False).run()
    row = lead.dataframe[0].value.iloc[0]
    assert (row["status"], row["automatic"], row["final"]) == ("accepted", "0/10", "10/10")


def test_a_reviewer_cannot_decide_disputes(db_path):
    store.raise_dispute(store.open_store(db_path), "c-0002", "closing", "li.qiang", "x")
    at = open_page(DISPUTES)
    assert not [b for b in at.button if b.label == "Save decision"]


# --- calibration -----------------------------------------------------------------------

def _score_blind(db_path, user: User, call_id: str, statuses: dict[str, str]) -> None:
    at = open_page(CALIBRATION, user=user)
    at.selectbox(key="cb_call").select(call_id)
    at.run()
    for item_id, status in statuses.items():
        at.selectbox(key=f"cb_{call_id}_{item_id}").select(status)
    click(at, "Submit calibration scores")
    assert not [e for e in texts(at.error)]


def test_calibration_round_blind_scores_and_agreement(db_path):
    db = store.open_store(db_path)
    for name in ("rita", "rob"):
        store.add_user(db, name, "reviewer", "password-123")
    lead = open_page(CALIBRATION, user=LEAD)
    lead.multiselect(key="ca_calls").set_value(["c-0002", "c-0003"])
    lead.multiselect(key="ca_reviewers").set_value(["rita", "rob"])
    click(lead, "Assign for calibration")
    assert query(db_path, "SELECT COUNT(*) FROM assignments WHERE purpose = 'calibration'") == [(4,)]

    blind = open_page(CALIBRATION, user=REVIEWER)
    assert not blind.metric  # a reviewer sees neither the automatic score nor agreement
    everything_passes = {}
    _score_blind(db_path, REVIEWER, "c-0002", everything_passes)
    _score_blind(db_path, OTHER_REVIEWER, "c-0002", {"closing": "fail", "self_intro": "fail"})
    assert query(db_path, "SELECT COUNT(DISTINCT reviewer), COUNT(*) FROM reviews WHERE "
                          "purpose = 'calibration'") == [(2, 24)]
    results = open_page(CALIBRATION, user=LEAD)
    metrics = {m.label: m.value for m in results.metric}
    assert metrics["Strictest"] == "rob" and metrics["Most lenient"] == "rita"
    assert metrics["Fleiss' kappa"] != "-"
    per_item = results.dataframe[0].value
    closing = per_item[per_item["item"] == "closing"].iloc[0]
    assert (closing["calls"], closing["all agree"]) == (1, 0)
    kappa = results.dataframe[1].value.iloc[0]
    assert (kappa["reviewer A"], kappa["reviewer B"]) == ("rita", "rob")
    # the calibration rounds do not change the call's reviewed score
    assert not store.reviewed_score(db, "c-0002")["reviewed"]


# --- agents, rules, sampling, scorer ---------------------------------------------------

def test_agents_page_shows_trend_pass_rates_missed_items_exposure_and_baseline(db_path):
    at = open_page(AGENTS, user=LEAD)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    exposure = at.dataframe[2].value
    li_late = exposure[(exposure["agent"].str.startswith("A023"))]
    assert li_late["abusive calls"].sum() == 1
    at.selectbox(key="ag_agent").select("A023").run()
    assert not at.exception
    rates = at.dataframe[0].value
    assert {"agent pass rate", "team pass rate"} <= set(rates.columns)
    missed = at.dataframe[1].value
    assert "Call?call_id=c-0002" in set(missed["example"])
    assert {m.label for m in at.metric} >= {"speech rate (per min)", "silence share"}


def test_rules_page_shows_hit_rates_per_item_and_per_phrase(db_path):
    at = open_page(RULES)
    per_item = at.dataframe[0].value
    forbidden = per_item[per_item["rule"] == "forbidden_words"].iloc[0]
    assert forbidden["calls"] if "calls" in per_item else True
    assert forbidden["calls hit"] >= 1 and 0 < forbidden["hit rate"] <= 1
    assert "不归我管" in set(at.dataframe[1].value["phrase"])


def test_sampling_draws_critical_and_high_risk_calls_and_assigns_them(db_path):
    db = store.open_store(db_path)
    for name in ("rita", "rob"):
        store.add_user(db, name, "reviewer", "password-123")
    at = open_page(SAMPLING, user=LEAD)
    at.number_input(key="sp_n").set_value(0)
    click(at, "Draw sample")
    drawn = dict(zip(at.dataframe[0].value["call"], at.dataframe[0].value["why"]))
    assert drawn == {"c-0003": "critical fail", "c-0006": "high risk"}
    at.multiselect(key="sp_people").set_value(["rita", "rob"])
    click(at, "Assign 2 calls")
    assert query(db_path, "SELECT call_id, reviewer, assigned_by FROM assignments ORDER BY "
                          "call_id") == [("c-0003", "rita", "lena"), ("c-0006", "rob", "lena")]
    queue = open_page(user=User("rob", "reviewer"))
    queue.selectbox(key="q_assigned").select("me")
    click(queue, "Apply filters")
    assert list(queue.dataframe[0].value["call"]) == ["c-0006"]


def test_a_reviewer_cannot_open_sampling(db_path):
    at = open_page(SAMPLING)
    assert any("cannot use this page" in w for w in texts(at.warning))


def test_the_transcript_scorer_page_still_scores_a_bundled_sample(db_path):
    at = open_page(SCORER)
    at.main.selectbox[0].select("c-0003.json").run()
    assert at.header[0].value == "Call c-0003"
    assert {m.label: m.value for m in at.metric}["Verdict"] == "CRITICAL FAIL"


def test_reviews_are_append_only_in_the_database(db_path):
    db = store.open_store(db_path)
    store.add_review(db, "c-0002", "rita", item_id="closing")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE reviews SET reviewer = 'mallory'")


def test_a_lead_assigns_calls_from_the_queue_and_the_reviewer_finds_them(db_path):
    store.add_user(store.open_store(db_path), "rita", "reviewer", "password-123")
    lead = open_page(user=LEAD)
    lead.multiselect(key="qa_calls").set_value(["c-0001", "c-0004"])
    lead.selectbox(key="qa_to").select("rita")
    click(lead, "Assign")
    assert query(db_path, "SELECT call_id, reviewer, assigned_by FROM assignments ORDER BY "
                          "call_id") == [("c-0001", "rita", "lena"), ("c-0004", "rita", "lena")]
    assigned = lead.dataframe[0].value.set_index("call")["assigned"]
    assert (assigned["c-0001"], assigned["c-0004"]) == ("rita", "rita")
    mine = open_page()
    mine.selectbox(key="q_assigned").select("me")
    click(mine, "Apply filters")
    assert sorted(mine.dataframe[0].value["call"]) == ["c-0001", "c-0004"]
    assert not [b for b in open_page().button if b.label == "Assign"]  # reviewers cannot


def test_only_roles_allowed_to_reveal_get_the_unredacted_switch(db_path):
    assert not open_page(CALL, call_id="c-0002").toggle
    assert [t.label for t in open_page(CALL, user=LEAD, call_id="c-0002").toggle] == [
        "Show unredacted text"]


# --- reports -------------------------------------------------------------------------

def test_the_reports_page_previews_an_agents_report_and_offers_the_downloads(db_path):
    at = open_page(REPORTS, user=User("tina", "trainer"))
    assert at.text_input(key="r_period").value == "2026-11"   # the latest calls' month
    at.selectbox(key="r_agent").select("A017").run()
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download PDF", "Download Excel", "Download CSV"]
    preview = at.get("iframe")[0].proto.srcdoc
    assert "王敏 (A017)" in preview and "League table" not in preview


def test_a_team_report_has_its_league_table_and_an_empty_period_says_so(db_path):
    at = open_page(REPORTS, user=LEAD)
    at.radio(key="r_scope").set_value("team").run()
    assert "League table" in at.get("iframe")[0].proto.srcdoc
    at.text_input(key="r_period").input("2026-09").run()
    assert not at.exception, at.exception
    assert any("no scored calls" in w.value for w in at.warning)


def test_an_agent_sees_only_their_own_report(db_path):
    at = open_page(REPORTS, user=AGENT_LI)
    assert len(at.radio) == 0                                  # no choice of subject
    assert "r_agent" not in [s.key for s in at.selectbox]
    assert "李强 (A023)" in at.get("iframe")[0].proto.srcdoc
