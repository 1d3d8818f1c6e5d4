"""parallel.py: many nodes at once, as many at a time as asked, and what an error does to the rest."""

from __future__ import annotations

import threading

import pytest

from pytest_meronodes.parallel import run_parallel


def test_results_keep_the_items_order_and_at_most_limit_calls_run_at_once() -> None:
    lock = threading.Lock()
    running, peak = [0], [0]
    gate = threading.Barrier(3, timeout=5)  # three calls must be in flight together, never four

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if item < 3:
            gate.wait()
        with lock:
            running[0] -= 1
        return item * 10

    assert run_parallel(work, list(range(9)), limit=3) == [i * 10 for i in range(9)]
    assert peak[0] == 3


def test_fail_fast_drops_the_calls_not_begun_and_raises_the_error() -> None:
    done: list[int] = []

    def work(item: int) -> None:
        if item == 0:
            raise ValueError("node0 failed")
        done.append(item)

    with pytest.raises(ValueError, match="node0 failed"):
        run_parallel(work, list(range(50)), limit=1, fail_fast=True)
    assert done == []  # one at a time: the first failed, none after it began


def test_without_fail_fast_every_call_runs_despite_an_error() -> None:
    done: list[int] = []

    def work(item: int) -> None:
        done.append(item)
        if item == 0:
            raise ValueError("node0 failed")

    with pytest.raises(ValueError, match="node0 failed"):
        run_parallel(work, list(range(20)), limit=2)
    assert sorted(done) == list(range(20))  # teardown: every node is still removed

