"""Rules: hit rate and reviewer-measured precision per rule and per lexicon phrase."""

import streamlit as st

from qa.web import rules
from qa.web.session import require_user

st.set_page_config(page_title="callqa — rules", layout="wide")
rules.render(require_user())
