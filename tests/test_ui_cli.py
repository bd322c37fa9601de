"""`qa users` and `qa ui` run for real in subprocesses."""

from __future__ import annotations

import subprocess
import sys

from qa import store
from tests.batchdata import query
from tests.conftest import run_qa


def add_user(db, *args, password="a-long-password"):
    return subprocess.run([sys.executable, "-m", "qa", "users", "add", *args, "--db", str(db),
                           "--password-stdin"], input=password + "\n", capture_output=True,
                          text=True, timeout=120)


def test_users_add_stores_a_salted_hash_never_the_password(tmp_path):
    db = tmp_path / "qa.db"
    result = add_user(db, "wang.min", "--role", "agent", "--agent-id", "A017")
    assert result.returncode == 0, result.stderr
    [(name, role, agent, hashed)] = query(db, "SELECT name, role, agent_id, password_hash FROM users")
    assert (name, role, agent) == ("wang.min", "agent", "A017")
    assert hashed.startswith("scrypt$") and "a-long-password" not in hashed
    assert store.authenticate(store.open_store(db), "wang.min", "a-long-password")["role"] == "agent"
    listed = run_qa("users", "list", "--db", str(db))
    assert "wang.min" in listed.stdout


def test_users_add_refuses_bad_roles_short_passwords_and_duplicates(tmp_path):
    db = tmp_path / "qa.db"
    assert add_user(db, "x", "--role", "boss").returncode == 2
    short = add_user(db, "x", "--role", "reviewer", password="short")
    assert short.returncode == 2 and "8 characters" in short.stderr
    assert add_user(db, "x", "--role", "reviewer").returncode == 0
    again = add_user(db, "x", "--role", "lead")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert add_user(db, "x", "--role", "lead", "--replace").returncode == 0
    assert query(db, "SELECT role FROM users") == [("lead",)]


def test_ui_refuses_a_missing_database_and_a_database_without_users(tmp_path):
    missing = run_qa("ui", "--db", str(tmp_path / "absent.db"))
    assert missing.returncode == 1 and "no such database" in missing.stderr
    store.open_store(tmp_path / "qa.db").close()
    empty = run_qa("ui", "--db", str(tmp_path / "qa.db"))
    assert empty.returncode == 1 and "no users yet" in empty.stderr and "--demo" in empty.stderr


def test_ui_listens_on_loopback_only_and_passes_the_database_and_demo_flag(tmp_path):
    from qa.uiserver import prepare

    store.open_store(tmp_path / "qa.db").close()
    launch = prepare(tmp_path / "qa.db", demo=True, port=8600)
    argv = " ".join(launch.argv)
    assert "--server.address 127.0.0.1" in argv and "--server.port 8600" in argv
    assert argv.split(" run ")[1].split()[0].endswith("app.py")
    assert launch.env["QA_DB"] == str((tmp_path / "qa.db").resolve())
    assert launch.env["QA_UI_DEMO"] == "1"
