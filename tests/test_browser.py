"""End to end in a real browser: `qa ui` on a loopback port, Debian's chromium driven by
Selenium (no browser download). Sign in, open a call, click a segment (the player moves
there), override an item with a reason, reload, sign in again: the override is kept.

Skipped, saying why, when chromium, chromedriver or selenium is not installed
(scripts/setup.sh installs them). QA_UPDATE_SCREENSHOTS=1 writes the screenshots to
docs/screenshots/ (otherwise to the test's temporary folder)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qa import store
from tests.conftest import REPO
from tests.uidata import build_database

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("Debian chromium and chromium-driver are not installed (scripts/setup.sh "
                "installs them as root)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = build_database(folder)
    store.add_user(store.open_store(db), "rita", "reviewer", "rita-password")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "qa", "ui", "--db", str(db), "--port",
                                str(port)], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"qa ui did not start: {process.stderr.read()}")
        time.sleep(0.5)
    yield base, db
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    # `qa ui` is the server (it execs Streamlit): stopping it leaves nothing listening
    time.sleep(0.5)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,1100",
                 "--lang=zh-CN",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


def shots_dir(tmp_path: Path) -> Path:
    if os.environ.get("QA_UPDATE_SCREENSHOTS"):
        return REPO / "docs" / "screenshots"
    return tmp_path


def wait_text(driver, text: str):
    WebDriverWait(driver, TIMEOUT).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)


def button(driver, label: str):
    def find(d):
        for b in d.find_elements(By.CSS_SELECTOR, "button"):
            if b.text.strip() == label and b.is_displayed():
                return b
        return False
    return WebDriverWait(driver, TIMEOUT).until(find)


def sign_in(driver, name: str, password: str) -> None:
    field = WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "input[aria-label='User name']"))
    field.send_keys(name)
    driver.find_element(By.CSS_SELECTOR, "input[aria-label='Password']").send_keys(password)
    button(driver, "Sign in").click()


def choose(driver, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    box = WebDriverWait(driver, TIMEOUT).until(lambda d: next(
        (b for b in d.find_elements(By.CSS_SELECTOR, "[data-testid='stSelectbox']")
         if b.text.splitlines()[:1] == [label]), False))
    box.find_element(By.CSS_SELECTOR, "button[aria-label='Open']").click()
    WebDriverWait(driver, TIMEOUT).until(lambda d: next(
        (o for o in d.find_elements(By.CSS_SELECTOR, "[role='option']")
         if option in o.text and o.is_displayed()), False)).click()
    WebDriverWait(driver, TIMEOUT).until(lambda d: option in box.find_element(
        By.CSS_SELECTOR, "input[role='combobox']").get_attribute("value"))


def small_screenshot(driver, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    assert path.stat().st_size < 1_500_000


def test_sign_in_open_a_call_seek_override_reload_and_see_it_kept(server, browser, tmp_path):
    base, db = server
    browser.get(base)
    sign_in(browser, "rita", "rita-password")
    wait_text(browser, "Review queue")
    wait_text(browser, "calls match")
    time.sleep(1)
    small_screenshot(browser, shots_dir(tmp_path) / "queue.png")

    browser.get(f"{base}/Call?call_id=au-0001")
    sign_in(browser, "rita", "rita-password")
    wait_text(browser, "Call au-0001")
    wait_text(browser, "不归我管")  # Chinese transcript text on the page
    segment = button(browser, "▶ 0:11.9")
    segment.click()
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.execute_script(
        "const a = document.querySelector('audio'); return a && a.currentTime >= 11;"))

    choose(browser, "Item", "closing")
    browser.find_element(By.XPATH, "//label[.//p[text()='override']]").click()
    choose(browser, "New status", "pass")
    browser.find_element(By.CSS_SELECTOR, "textarea[aria-label='Reason (required for an "
                                          "override)']").send_keys("客户先挂断，无法致结束语")
    button(browser, "Save review").click()
    wait_text(browser, "客户先挂断，无法致结束语")
    browser.execute_script("document.querySelectorAll('[data-testid=\"stMain\"], "
                           "[data-testid=\"stAppViewContainer\"], section.main')"
                           ".forEach(e => e.scrollTo(0, 0)); window.scrollTo(0, 0);")
    time.sleep(1)
    small_screenshot(browser, shots_dir(tmp_path) / "call.png")

    browser.refresh()
    sign_in(browser, "rita", "rita-password")
    wait_text(browser, "Call au-0001")
    wait_text(browser, "客户先挂断，无法致结束语")
    assert "65 / 90" in browser.find_element(By.TAG_NAME, "body").text
    assert store.reviews_for_call(store.open_store(db), "au-0001")[0]["reviewer"] == "rita"
