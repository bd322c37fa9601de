"""Coaching reports: periods, the numbers a report states, and the real `qa report`
command over a database built by `qa batch`, rendered to PDF, HTML, XLSX and CSV."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from qa.errors import InputError
from qa.report.period import parse_period
from tests.conftest import REPO, bundled, run_qa

TODAY = dt.date(2026, 12, 1)

# --- periods --------------------------------------------------------------------------------


def test_a_month_runs_from_its_first_to_its_last_day_and_follows_the_month_before():
    p = parse_period("2026-11", today=TODAY)
    assert (p.start, p.end, p.label) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30), "2026-11")
    assert p.previous().label == "2026-10"
    assert parse_period("2026-01", today=TODAY).previous().label == "2025-12"


def test_an_iso_week_starts_on_monday_and_the_week_before_can_be_in_another_year():
    p = parse_period("2026-W47", today=TODAY)
    assert (p.start, p.end) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert parse_period("2026-W01", today=TODAY).previous().label == "2025-W52"


def test_a_quarter_and_an_explicit_range_have_a_previous_period_of_the_same_length():
    assert parse_period("2026-Q4", today=TODAY).previous().label == "2026-Q3"
    r = parse_period(start="2026-11-01", end="2026-11-10", today=TODAY)
    assert (r.previous().start, r.previous().end) == (dt.date(2026, 10, 22), dt.date(2026, 10, 31))


@pytest.mark.parametrize("kwargs, message", [
    ({"period": "2027-01"}, "in the future"),
    ({"period": "2026-13"}, "not a valid period"),
    ({"period": "November"}, "not a date"),
    ({"start": "2026-11-10", "end": "2026-11-01"}, "before --from"),
    ({"start": "2026-11-10"}, "both --from and --to"),
    ({}, "give --period"),
])
def test_a_bad_period_is_refused_with_the_reason(kwargs, message):
    with pytest.raises(InputError, match=message):
        parse_period(today=TODAY, **kwargs)


# --- a database built by the real batch command ---------------------------------------------

AGENTS = [("A017", "王敏", "信用卡一组"), ("A023", "李强", "信用卡一组"),
          ("A031", "欧阳娜", "信用卡二组"), ("A044", "陈静", "信用卡二组")]
GOOD = [("agent", "您好，招商银行信用卡中心，我姓{surname}，很高兴为您服务"),
        ("customer", "你好，我想调一下临时额度"),
        ("agent", "好的，先跟您核实一下身份，请提供身份证后四位"), ("customer", "三四一二"),
        ("agent", "请您稍等，我帮您查询一下"), ("agent", "感谢您的耐心等待"),
        ("agent", "您的临时额度已经调整为五万元"), ("customer", "好的谢谢"),
        ("agent", "请问还有其他可以帮您的吗"), ("customer", "没有了"),
        ("agent", "感谢您的来电，祝您生活愉快，再见")]
BAD = [("agent", "喂"), ("customer", "你好，我的卡被冻结了"),
       ("agent", "您的卡号是6225 8801 2345 6788吧，账户余额还有三千"),
       ("customer", "你们怎么搞的一直打不通，废物"), ("agent", "这个不归我管你找别人去"),
       ("customer", "算了")]


def _call(i: int, day: dt.date, agent: tuple[str, str, str], good: bool) -> dict:
    rows, t = [], 0.0
    for speaker, text in (GOOD if good else BAD):
        text = text.format(surname=agent[1][0] if not agent[1].startswith("欧阳") else "欧阳")
        rows.append({"start": round(t, 1), "end": round(t + 2.5, 1), "speaker": speaker,
                     "text": text})
        t += 3.0
    return {"call_id": f"r-{i:04d}", "language": "zh",
            "call": {"agent_id": agent[0], "agent_name": agent[1], "team": agent[2],
                     "queue": "credit-card", "organisation": "招商银行信用卡中心",
                     "started_at": f"{day.isoformat()}T{9 + i % 8:02d}:{i % 60:02d}:00+08:00",
                     "resolved": "yes" if i % 3 else "no"},
            "segments": rows}


@pytest.fixture(scope="module")
def report_db(tmp_path_factory) -> Path:
    """80 calls by four agents over October and November 2026, scored by `qa batch`,
    with a reviewer's override, a coaching note and a decided dispute."""
    root = tmp_path_factory.mktemp("reports")
    calls = root / "calls"
    calls.mkdir()
    rng = random.Random(3)
    for i in range(80):
        day = dt.date(2026, 10, 1) + dt.timedelta(days=rng.randrange(61))
        agent = AGENTS[i % len(AGENTS)]
        good = rng.random() < (0.8 if agent[0] in ("A017", "A044") else 0.45)
        (calls / f"r-{i:04d}.json").write_text(
            json.dumps(_call(i, day, agent, good), ensure_ascii=False), encoding="utf-8")
    db = root / "qa.db"
    done = run_qa("batch", str(calls), "--db", str(db), "--rubric", "zh-bank-hotline",
                  "--workers", "1")
    assert done.returncode == 0, done.stderr
    from qa import store

    database = store.open_store(db)
    november = [c["call_id"] for c in store.list_calls(
        database, store.CallFilter(agent_id="A017", date_from="2026-11-01", date_to="2026-11-30"),
        limit=None, order="call_id")]
    store.add_review(database, november[0], "reviewer1", item_id="closing", action="override",
                     status="fail", points=0, reason="closing was cut off")
    store.add_coaching_note(database, november[0], "trainer1", "结束语要完整",
                            category="closing", suggested_phrase="感谢您的来电，再见")
    dispute = store.raise_dispute(database, november[1], "greeting", "A017", "我说了问候语")
    store.decide_dispute(database, dispute, "lead1", "rejected", comment="录音里没有")
    return db


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils not installed (scripts/setup.sh installs it)")


@needs_poppler
def test_an_agent_pdf_names_the_agent_in_chinese_and_renders_a_page_that_is_not_blank(report_db, tmp_path):
    pdf = tmp_path / "A017.pdf"
    done = run_qa("report", "agent", "A017", "--period", "2026-11", "--db", str(report_db),
                  "--format", "pdf", "--out", str(pdf))
    assert done.returncode == 0, done.stderr
    text = _pdf_text(pdf)
    assert "王敏" in text and "A017" in text and "2026-11" in text
    assert f"zh-bank-hotline@{bundled('zh-bank-hotline').version}" in text  # the rubric behind the scores
    assert "结束语要完整" in text                      # the reviewer's coaching note
    assert "rejected" in text                         # the dispute and its outcome
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "CJK" in fonts and " yes " in fonts        # the Chinese font is embedded
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    from PIL import Image

    page = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    dark = sum(1 for v in page.get_flattened_data() if v < 128)
    assert dark > 0.01 * page.width * page.height     # text and charts, not an empty page


def test_the_numbers_of_an_agent_report_match_the_database(report_db):
    from qa import store
    from qa.report.data import build_report
    from qa.report.source import frames_for_period

    database = store.open_store(report_db, create=False)
    period = parse_period("2026-11", today=TODAY)
    report = build_report(frames_for_period(database, period), "agent", "A017", period)
    rows = store.list_calls(database, store.CallFilter(agent_id="A017", date_from="2026-11-01",
                                                       date_to="2026-11-30"), limit=None)
    assert report.headline.calls == len(rows)
    assert report.headline.critical_fails == sum(r["critical_failed"] for r in rows)
    assert report.headline.pass_rate == round(sum(r["passed"] for r in rows) / len(rows), 3)
    closing = next(i for i in report.items if i.item_id == "closing")
    assert closing.applicable == len(rows)
    # the three items to work on are those that lost the most points, in that order
    lost = [i.points_lost for i in report.focus]
    assert lost == sorted(lost, reverse=True) and len(report.focus) <= 3
    assert all(i.points_lost <= report.focus[-1].points_lost for i in report.items
               if i not in report.focus) if report.focus else True
    # a missed item is quoted with the phrase that should have been said, filled in
    greeting = next(i for i in report.items if i.item_id == "greeting")
    if greeting.misses:
        assert "招商银行信用卡中心" in greeting.should_say and "{company}" not in greeting.should_say
    # card numbers in quoted excerpts stay masked
    quoted = " ".join(text for i in report.items for e in i.misses + i.best for _, _, text in e.lines)
    assert "6225 8801 2345 6788" not in quoted


def test_a_team_report_in_excel_has_a_league_table_native_charts_and_kpis(report_db, tmp_path):
    from openpyxl import load_workbook

    xlsx = tmp_path / "team.xlsx"
    done = run_qa("report", "team", "信用卡一组", "--period", "2026-11", "--db", str(report_db),
                  "--format", "xlsx", "--out", str(xlsx))
    assert done.returncode == 0, done.stderr
    book = load_workbook(xlsx)
    assert {"Summary", "Items", "Trend", "Calls", "League", "Notes", "Disputes"} <= set(book.sheetnames)
    league = list(book["League"].iter_rows(min_row=2, values_only=True))
    assert {r[1] for r in league} == {"A017", "A023"}
    assert [r[5] for r in league] == sorted((r[5] for r in league), reverse=True)
    assert book["Items"]._charts and book["Trend"]._charts
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True)}
    assert summary["First-contact resolution"] is not None


def test_the_same_data_gives_the_same_report(report_db, tmp_path):
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for path in (first, second):
        done = run_qa("report", "center", "--period", "2026-11", "--db", str(report_db),
                      "--format", "html", "--out", str(path))
        assert done.returncode == 0, done.stderr
    strip = lambda p: "\n".join(l for l in p.read_text(encoding="utf-8").splitlines()
                                if "Generated " not in l)
    assert strip(first) == strip(second)
    assert "League table" in first.read_text(encoding="utf-8")


def test_all_agents_writes_one_report_each_into_the_folder(report_db, tmp_path):
    done = run_qa("report", "agent", "--all-agents", "--period", "2026-11", "--db",
                  str(report_db), "--format", "csv", "--out-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        f"agent-{a}-2026-11.csv" for a, _, _ in AGENTS]


@pytest.mark.parametrize("args, message", [
    (["agent", "A999", "--period", "2026-11"], "unknown agent"),
    (["agent", "A017", "--period", "2026-09"], "no scored calls for agent A017 in 2026-09"),
    (["agent", "A017", "--period", "2027-03"], "in the future"),
    (["team", "没有这个组", "--period", "2026-11"], "unknown team"),
    (["agent", "A017", "--period", "2026-11", "--format", "docx"], "unknown format"),
])
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(report_db, tmp_path, args, message):
    out = tmp_path / "report.out"
    done = run_qa("report", *args, "--db", str(report_db), "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_output_path_or_missing_database_exits_2(report_db, tmp_path):
    done = run_qa("report", "agent", "A017", "--period", "2026-11", "--db", str(report_db),
                  "--out", str(tmp_path / "no-such-folder" / "r.pdf"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run_qa("report", "agent", "A017", "--period", "2026-11", "--db",
                  str(tmp_path / "missing.db"))
    assert done.returncode == 2 and "no such database" in done.stderr
    assert not (tmp_path / "missing.db").exists()
