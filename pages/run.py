"""run page (being built)."""

import streamlit as st

st.title("run")
st.info("This page is being built.")
