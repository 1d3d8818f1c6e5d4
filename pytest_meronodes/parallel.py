"""Doing one thing for many nodes at once, as many at a time as the machine can take."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def machine_parallelism(per_core: int = 2) -> int:
    """How many CPU-bound node starts (or inits) to run at once: a few per core this process may
    use. More only makes them take turns: a hundred at once on two cores starve each other, and
    nodes starved for seconds miss their peers' keep-alives and drop connections."""
    return max(2, per_core * len(os.sched_getaffinity(0)))


def run_parallel(
    function: Callable[[T], R], items: list[T], limit: int | None = None, *, fail_fast: bool = False
) -> list[R]:
    """Run `function` on every item, at most `limit` at once (default: all); its results in the
    items' order. The first error is re-raised once the running calls have finished; with
    `fail_fast`, the calls not yet begun are dropped at the first error (a start that failed
    need not start the rest), otherwise every call runs (teardown)."""
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(len(items), limit or len(items)))
    futures = [pool.submit(function, item) for item in items]
    try:
        wait(futures, return_when=FIRST_EXCEPTION if fail_fast else ALL_COMPLETED)
    finally:
        # on Ctrl-C too: let the running calls finish, so that teardown does not race them
        pool.shutdown(wait=True, cancel_futures=True)
    # the first failure in the items' order (not in time: which node a report names must not
    # depend on the scheduler)
    errors = [error for future in futures if not future.cancelled() and (error := future.exception()) is not None]
    if errors:
        raise errors[0]
    return [future.result() for future in futures]
