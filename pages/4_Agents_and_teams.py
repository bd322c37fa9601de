"""Agents and teams: trends, pass rates, missed items, abuse exposure, baselines."""

import streamlit as st

from qa.web import agents
from qa.web.session import require_user

st.set_page_config(page_title="callqa — agents and teams", layout="wide")
agents.render(require_user())
