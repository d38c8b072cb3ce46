"""retrieval page (being built)."""

import streamlit as st

st.title("retrieval")
st.info("This page is being built.")
