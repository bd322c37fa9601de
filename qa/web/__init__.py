"""The Streamlit edge of the reviewer UI: the database connection, sign-in, and the
render functions the pages in `pages/` call. Everything it reads or writes goes through
qa.store; the figures come from the pure modules (qa.callview, qa.calibration,
qa.sampling, qa.insights)."""
