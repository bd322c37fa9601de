"""Calibration: blind scoring of the same calls by several reviewers, and agreement."""

import streamlit as st

from qa.web import calibration
from qa.web.session import require_user

st.set_page_config(page_title="callqa — calibration", layout="wide")
calibration.render(require_user("calibrate"))
