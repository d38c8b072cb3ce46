"""intra_op_threads: fewer torch threads inside the block, the caller's count restored after it,
also when blocks overlap in several threads or the block raises."""

import threading

import pytest
import torch

from alor_core.models.threads import intra_op_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_block_runs_single_threaded_and_the_count_comes_back(two_threads):
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError):
        with intra_op_threads(1):
            raise ValueError("a failing fit")
    assert torch.get_num_threads() == 2


def test_overlapping_blocks_in_two_threads_restore_the_callers_count(two_threads):
    # A enters, B enters, A leaves (B still inside: still 1 thread), B leaves -> 2 again
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with intra_op_threads(1):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with intra_op_threads(1):
            b_in.set()
            a_out.wait(5)
            seen["inside_b_after_a_left"] = torch.get_num_threads()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert seen["inside_b_after_a_left"] == 1
    assert torch.get_num_threads() == 2
