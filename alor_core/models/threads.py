"""Fewer torch intra-op threads for small work, restored afterwards.

Training a linear head on cached features is hundreds of tiny operations (a 1,500 x 128 matrix
times a 128 x 10 one). Each is far too small for a second thread to pay off, and on a busy machine
every parallel region waits for a descheduled thread: on the 2-core development machine under a
load of 12, 200 full-batch LP epochs took 7.2 s with 2 threads and 1.6 s with one
(``bench/bench_label_latency.py``). :func:`intra_op_threads` runs such a block with fewer threads.

torch's thread count is a process setting, so the change lasts exactly as long as the block:
the first thread to enter saves the caller's count and the last one to leave restores it (a lock
and a counter), so overlapping blocks in several threads (dashboard sessions) never leave the
process with another count than it had.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import threading

import torch

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["intra_op_threads"]

_lock = threading.Lock()
_active = 0
_saved = None


@contextlib.contextmanager
def intra_op_threads(n: int = 1) -> Iterator[None]:
    """Run the block with at most ``n`` torch intra-op threads, then restore the previous count.

    Parameters
    ----------
    n : int, default=1
        Threads inside the block; nothing changes when the process already uses ``n`` or fewer.

    Yields
    ------
    None
    """
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = torch.get_num_threads()
        _active += 1
        if torch.get_num_threads() > n:
            torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                torch.set_num_threads(_saved)
                _saved = None
