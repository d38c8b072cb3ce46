"""label page (being built)."""

import streamlit as st

st.title("label")
st.info("This page is being built.")
