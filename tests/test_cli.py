"""The `qa` command line, run for real in a subprocess."""

from __future__ import annotations

import json
import shutil

from tests.conftest import REPO, run_qa

SAMPLES = REPO / "samples" / "transcripts"
ITEM_KEYS = {"id", "name", "status", "points", "max", "findings"}
FINDING_KEYS = {"check", "passed", "speaker", "start", "end", "evidence", "detail"}


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_score_prints_a_table_with_the_verdict_and_reasons():
    result = run_qa("score", "--transcript", str(SAMPLES / "c-0002.json"))
    assert result.returncode == 0, result.stderr
    assert "c-0002" in result.stdout
    assert "服务禁语" in result.stdout and "fail" in result.stdout
    assert "zh-bank-hotline" in result.stdout


def test_score_json_has_the_documented_shape():
    result = run_qa("score", "--transcript", str(SAMPLES / "c-0003.json"),
                    "--rubric", "zh-bank-hotline", "--format", "json")
    assert result.returncode == 0, result.stderr
    [card] = json_lines(result.stdout)
    assert {"call_id", "rubric_id", "rubric_version", "total", "max_total", "percent",
            "stars", "critical_failed", "flags", "items"} <= set(card)
    assert card["critical_failed"] is True and card["total"] == 0
    for item in card["items"]:
        assert ITEM_KEYS <= set(item)
        assert item["status"] in {"pass", "fail", "na", "critical"}
        for finding in item["findings"]:
            assert FINDING_KEYS <= set(finding)
    statuses = {i["id"]: i["status"] for i in card["items"]}
    assert statuses["password_request"] == "critical"


def test_a_folder_is_scored_call_by_call_with_the_rubric_for_each_language():
    result = run_qa("score", "--transcript", str(SAMPLES), "--format", "json")
    assert result.returncode == 0, result.stderr
    cards = json_lines(result.stdout)
    assert len(cards) == len(list(SAMPLES.glob("*.json")))
    rubrics = {c["call_id"]: c["rubric_id"] for c in cards}
    assert rubrics["c-0001"] == "zh-bank-hotline" and rubrics["en-0001"] == "en-card-services"


def test_a_bad_file_in_a_folder_exits_2_and_the_others_are_still_scored(tmp_path):
    shutil.copy(SAMPLES / "c-0001.json", tmp_path / "good.json")
    (tmp_path / "broken.json").write_text('{"call_id": "x", "segments": [', encoding="utf-8")
    result = run_qa("score", "--transcript", str(tmp_path), "--format", "json")
    assert result.returncode == 2
    assert [c["call_id"] for c in json_lines(result.stdout)] == ["c-0001"]
    assert "broken.json" in result.stderr and "malformed JSON" in result.stderr


def test_missing_transcript_and_unknown_rubric_exit_2_with_a_message(tmp_path):
    missing = run_qa("score", "--transcript", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    unknown = run_qa("score", "--transcript", str(SAMPLES), "--rubric", "no-such-rubric")
    assert unknown.returncode == 2 and "unknown rubric" in unknown.stderr


def test_card_numbers_in_evidence_are_redacted_unless_asked_not_to(tmp_path):
    call = {"call_id": "pii-1", "language": "en", "segments": [
        {"start": 0.0, "end": 4.0, "speaker": "customer", "text": "My card is 4539 1488 0343 6467."},
        {"start": 4.5, "end": 9.0, "speaker": "agent",
         "text": "Let me repeat that: 4539 1488 0343 6467, is that right?"}]}
    path = tmp_path / "pii.json"
    path.write_text(json.dumps(call), encoding="utf-8")
    args = ("score", "--transcript", str(path), "--format", "json")
    redacted = run_qa(*args)
    assert "4539 1488 0343 6467" not in redacted.stdout
    assert "**** **** **** 6467" in redacted.stdout
    plain = run_qa(*args, "--no-redact")
    [card] = json_lines(plain.stdout)
    readback = {i["id"]: i for i in card["items"]}["pii_readback"]
    assert readback["status"] == "fail"
    assert readback["findings"][0]["evidence"] == "4539 1488 0343 6467"


def test_rubric_check_accepts_the_bundled_rubrics():
    result = run_qa("rubric", "check", str(REPO / "rubrics" / "zh-bank-hotline.yaml"),
                    "en-card-services")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == 2


def test_rubric_check_reports_file_field_and_reason_and_exits_1(tmp_path):
    shutil.copytree(REPO / "rubrics" / "lexicons", tmp_path / "lexicons")
    text = (REPO / "rubrics" / "zh-bank-hotline.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("points: 15\n", "points: lots\n", 1), encoding="utf-8")
    result = run_qa("rubric", "check", str(bad))
    assert result.returncode == 1
    assert f"{bad}:sections[1].items[0].points:" in result.stderr
