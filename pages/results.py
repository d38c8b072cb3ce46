"""results page (being built)."""

import streamlit as st

st.title("results")
st.info("This page is being built.")
