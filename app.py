"""callqa reviewer UI: `qa ui --db qa.db` (or `QA_DB=qa.db streamlit run app.py`).

This page is the review queue; the call view, disputes, calibration, agents and teams,
rules, sampling and the one-off transcript scorer are in pages/. Logic lives in qa.web
(rendering), qa.store (data) and the pure qa modules."""

import streamlit as st

from qa.web import queue
from qa.web.session import require_user

st.set_page_config(page_title="callqa — review queue", layout="wide")
queue.render(require_user())
