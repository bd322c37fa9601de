"""The database connection, the signed-in user and the navigation every page shares.

`qa ui --db FILE [--demo]` passes its options in the environment (QA_DB, QA_UI_DEMO), so
`streamlit run app.py` works too (QA_DB defaults to qa.db)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import streamlit as st
from sqlite_utils.db import Database

from qa import store
from qa.errors import QAError
from qa.users import ROLE_NAMES, ROLES, User

DB_ENV = "QA_DB"
DEMO_ENV = "QA_UI_DEMO"
DEMO_REVIEWER = User("demo.reviewer", "reviewer")
CALL_PAGE = "pages/1_Call.py"


@dataclass(frozen=True)
class UISettings:
    db_path: Path
    demo: bool


def settings() -> UISettings:
    return UISettings(Path(os.environ.get(DB_ENV, "qa.db")),
                      os.environ.get(DEMO_ENV, "") not in ("", "0", "false"))


class StoreConnections:
    """One SQLite connection per server thread (a connection must not cross threads;
    Streamlit runs sessions in threads), opened on first use; opening checks the file."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self.get()  # refuse a missing, broken or newer database now, with its reason

    def get(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = store.open_store(self.path, create=False)
            self._local.db = db
        return db


@st.cache_resource(show_spinner=False)
def connections(path: str) -> StoreConnections:
    return StoreConnections(path)


def database() -> Database:
    """The results database, or a clear message on the page (and the page stops)."""
    path = settings().db_path
    try:
        return connections(str(path.resolve())).get()
    except QAError as exc:
        st.error(f"Cannot open the results database: {exc}")
        st.info("Score calls into a database with `qa batch FOLDER --db FILE --rubric ID`, "
                "then start the UI with `qa ui --db FILE`.")
        st.stop()


def db_key() -> str:
    """The cache key of the database (cached reads take it instead of the connection)."""
    return str(settings().db_path.resolve())


def saved() -> None:
    """After a write: cached reads are stale for everyone."""
    st.cache_data.clear()


def write(action: Callable[[], Any], done: str | None = None) -> Any:
    """Run a store write; a refused write (ValueError, QAError) is shown as the reason it
    was not saved and returns None. With `done`, a saved write shows it and reruns the
    page (cached reads cleared) so everyone's view includes it."""
    try:
        result = action()
    except (ValueError, QAError) as exc:
        st.error(f"Not saved: {exc}")
        return None
    saved()
    if done is not None:
        st.toast(done)
        st.rerun()
    return result


def reviewer_names(db: Database) -> list[str]:
    """Who calls can be assigned to: reviewers and QA leads (and, in a demo, the demo
    reviewer and lead, who are not users in the database)."""
    names = store.users_with_role(db, "reviewer", "lead")
    if settings().demo:
        names = sorted({*names, DEMO_REVIEWER.name, "demo.lead"})
    return names


def _sign_in(db: Database) -> None:
    st.title("callqa — sign in")
    if store.count_users(db) == 0:
        st.error("No users yet: add one with `qa users add NAME --role reviewer` "
                 "(or start a demo with `qa ui --demo`).")
        st.stop()
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            row = store.authenticate(db, name.strip(), password)
        except store.SignInLocked as exc:
            st.error(f"Sign-in refused: {exc.reason}.")
            st.stop()
        if row is None:
            st.error("Unknown user or wrong password.")
        else:
            st.session_state["user"] = User(row["name"], row["role"], row["agent_id"],
                                            row["team"])
            st.rerun()
    st.stop()


def _demo_role_switch(user: User, db: Database) -> None:
    role = st.sidebar.selectbox("Demo: act as", ROLES, index=ROLES.index(user.role),
                                format_func=ROLE_NAMES.get, key="demo_role")
    if role != user.role:
        agent = None
        if role == "agent":
            agents = store.queue_choices(db)["agents"]
            agent = agents[0][0] if agents else "A000"
        st.session_state["user"] = User(f"demo.{role}", role, agent)
        st.rerun()


def require_user(permission: str | None = None) -> User:
    """The signed-in user (a sign-in form otherwise; the demo reviewer with --demo). With
    `permission`, a user whose role lacks it sees why and the page stops."""
    db = database()
    user = st.session_state.get("user")
    if user is None and settings().demo:
        user = st.session_state["user"] = DEMO_REVIEWER
    if user is None:
        _sign_in(db)
    st.sidebar.markdown(f"**{user.name}** · {ROLE_NAMES.get(user.role, user.role)}"
                        + (f" · agent {user.agent_id}" if user.agent_id else ""))
    if settings().demo:
        _demo_role_switch(user, db)
    elif st.sidebar.button("Sign out"):
        st.session_state.pop("user", None)
        st.rerun()
    if permission and not user.can(permission):
        st.warning(f"A {ROLE_NAMES.get(user.role, user.role)} cannot use this page.")
        st.stop()
    return user


def open_call_button(call_ids: list[str], key: str, label: str = "Open call") -> None:
    """A call picker and a button that opens the call view on it."""
    if not call_ids:
        return
    cols = st.columns([3, 1])
    chosen = cols[0].selectbox(label, call_ids, key=f"{key}_pick")
    if cols[1].button("Open", key=f"{key}_open"):
        st.session_state["call_id"] = chosen
        st.switch_page(CALL_PAGE, query_params={"call_id": chosen})
