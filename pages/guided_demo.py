"""guided_demo page (being built)."""

import streamlit as st

st.title("guided_demo")
st.info("This page is being built.")
