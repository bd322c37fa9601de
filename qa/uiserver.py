"""Starting the reviewer UI (`qa ui`): checks the database and the users before
Streamlit starts, so a bad path or an empty user list is a clear error, not a page."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from qa import store
from qa.errors import QAError

LOOPBACK = "127.0.0.1"


class UIStartError(QAError):
    """The UI cannot start: the message says what to do."""


def app_script() -> Path:
    """app.py next to the package (a checkout) or bundled inside it (a wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "app.py", here / "_bundled" / "app.py"):
        if candidate.is_file():
            return candidate
    raise UIStartError("app.py is missing from this installation")


@dataclass(frozen=True)
class UILaunch:
    argv: list[str]
    env: dict[str, str]


def prepare(db: Path, *, demo: bool = False, port: int = 8501, host: str = LOOPBACK,
            open_browser: bool = False) -> UILaunch:
    """The command and environment that start Streamlit on app.py for `db`. Raises
    StoreError for a missing, broken or newer database, UIStartError when it has no users
    and `demo` is off."""
    database = store.open_store(db, create=False)
    try:
        if not demo and store.count_users(database) == 0:
            raise UIStartError(f"{db}: no users yet. Add one with `qa users add NAME --role "
                               "reviewer --db DB`, or start with --demo (signed in as a "
                               "demo reviewer).")
    finally:
        database.close()
    argv = [sys.executable, "-m", "streamlit", "run", str(app_script()),
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "false" if open_browser else "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    env = {**os.environ, "QA_DB": str(Path(db).resolve()), "QA_UI_DEMO": "1" if demo else "0"}
    return UILaunch(argv, env)
