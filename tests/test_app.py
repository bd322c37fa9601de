"""The transcript scorer page (pages/8_Score_a_transcript.py; it was the first app.py),
driven by streamlit.testing.v1.AppTest from the real app.py, signed in as the demo
reviewer on an empty database: scoring a transcript here stores nothing."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from qa import store  # noqa: E402
from tests.conftest import REPO  # noqa: E402

APP = str(REPO / "app.py")
SCORER = "pages/8_Score_a_transcript.py"


@pytest.fixture(autouse=True)
def demo_database(tmp_path, monkeypatch):
    store.open_store(tmp_path / "empty.db").close()
    monkeypatch.setenv("QA_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("QA_UI_DEMO", "1")


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(SCORER).run()
    assert not at.exception, at.exception
    return at


def test_a_bundled_sample_shows_its_score_and_explained_items():
    at = run_app()
    at.main.selectbox[0].select("c-0003.json").run()
    assert not at.exception
    assert at.header[0].value == "Call c-0003"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Verdict"] == "CRITICAL FAIL"
    assert any("critical item failed" in e.value for e in at.error)
    table = at.dataframe[0].value
    row = table[table["item"] == "不索要密码与验证码"].iloc[0]
    assert "asks for a secret aloud" in row["why"]


def test_evidence_is_highlighted_in_the_transcript():
    at = run_app()
    at.main.selectbox[0].select("c-0002.json").run()
    marked = [m.value for m in at.markdown if "<mark>" in m.value]
    assert any("不归我管" in m for m in marked)


def test_flags_are_shown():
    at = run_app()
    at.main.selectbox[0].select("c-0006.json").run()
    assert any("客户辱骂" in w.value for w in at.warning)
