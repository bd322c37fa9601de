"""Call view: recording, transcript with evidence, scorecard, review, notes, disputes."""

import streamlit as st

from qa.web import call
from qa.web.session import require_user

st.set_page_config(page_title="callqa — call", layout="wide")
call.render(require_user())
