"""The dashboard's Streamlit helpers (the only package that imports streamlit).

``state`` holds every session_state key, ``cache`` the cached loaders, ``widgets`` shared building
blocks, ``demo`` the in-process demo runs, ``labeling`` the label-queue actions.
"""

__all__ = ["state", "cache", "widgets", "demo"]
