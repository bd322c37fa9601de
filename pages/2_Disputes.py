"""Disputes: open and decided, and the QA lead's decision form."""

import streamlit as st

from qa.web import disputes
from qa.web.session import require_user

st.set_page_config(page_title="callqa — disputes", layout="wide")
disputes.render(require_user())
