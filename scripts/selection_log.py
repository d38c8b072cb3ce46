"""Shared by the selection scripts: torch threads from ``ALOR_THREADS`` and a log that is printed
as it goes and written, with the command that made it, to a results file under ``bench/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def set_threads() -> None:
    """``torch.set_num_threads($ALOR_THREADS or 2)`` (script entry points only)."""
    import torch

    torch.set_num_threads(int(os.environ.get("ALOR_THREADS", "2")))


class Log:
    """``log(msg)`` prints ``msg`` and keeps it; ``write(path, title, script, argv)`` saves them."""

    def __init__(self):
        self.lines = []

    def __call__(self, msg: str) -> None:
        print(msg, flush=True)
        self.lines.append(msg)

    def write(self, path, title: str, script: str, argv=None) -> None:
        args = " ".join(argv if argv is not None else sys.argv[1:])
        Path(path).write_text(
            f"# {title}\n\nCommand: `python {script} {args}`\n\n```\n" + "\n".join(self.lines) + "\n```\n"
        )
