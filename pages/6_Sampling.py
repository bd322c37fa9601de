"""Sampling plan and assignment of calls to reviewers (QA leads)."""

import streamlit as st

from qa.web import sampling
from qa.web.session import require_user

st.set_page_config(page_title="callqa — sampling", layout="wide")
sampling.render(require_user("assign"))
