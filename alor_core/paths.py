"""Where ALOR Studio keeps generated files.

``ALOR_CACHE_DIR`` (default ``<project>/.cache/alor``) holds the demo world and feature caches;
``ALOR_OUTPUT_DIR`` (default ``./output``) holds run sessions. Both are gitignored.
``ALOR_REPORTS_DIR`` (default ``<project>/reports``) holds the committed paper-claims reports.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_DIR", "DATA_DIR", "cache_dir", "output_dir", "reports_dir"]

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_DIR / "data"


def cache_dir() -> Path:
    """Return the cache folder (created on demand)."""
    path = Path(os.environ.get("ALOR_CACHE_DIR", PROJECT_DIR / ".cache" / "alor"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Return the folder that holds run sessions (created on demand)."""
    path = Path(os.environ.get("ALOR_OUTPUT_DIR", Path.cwd() / "output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir() -> Path:
    """Return the folder of paper-claims reports (one sub-folder per report; may not exist)."""
    return Path(os.environ.get("ALOR_REPORTS_DIR", PROJECT_DIR / "reports"))
