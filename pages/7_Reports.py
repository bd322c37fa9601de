"""Reports: preview a coaching report and download it (PDF, Excel, CSV)."""

import streamlit as st

from qa.web import reports
from qa.web.session import require_user

st.set_page_config(page_title="callqa — reports", layout="wide")
reports.render(require_user())
