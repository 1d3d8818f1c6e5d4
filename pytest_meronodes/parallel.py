"""Doing one thing for many nodes at once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_parallel(function: Callable[[T], R], items: list[T], limit: int | None = None) -> list[R]:
    """Run `function` on every item, at most `limit` at once (default: all); its results in the
    items' order. The first error is re-raised after all calls have finished."""
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(len(items), limit or len(items)))
    futures = [pool.submit(function, item) for item in items]
    try:
        wait(futures)
    finally:
        # on Ctrl-C too: let the running calls finish, so that teardown does not race them
        pool.shutdown(wait=True, cancel_futures=True)
    return [future.result() for future in futures]
