"""ALOR Studio core: retrieval (RDA), adaptation, active-learning strategies and the round loop.

Active Learning via Vision-Language Model Adaptation with Open Data (Wang, Wang, Kong 2025).
Pipeline stages, one sub-package each: ``data`` -> ``models`` -> ``retrieval`` -> ``adaptation``
-> ``strategies`` -> ``loop``; ``cli`` drives them from the shell and ``ui`` from Streamlit.
"""

__version__ = "0.1.0"
