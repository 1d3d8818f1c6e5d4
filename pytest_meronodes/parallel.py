"""Doing one thing for many nodes at once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")


def run_parallel(function: Callable[[T], Any], items: list[T]) -> None:
    """Run `function` on every item at once; re-raise the first error after all have finished."""
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=len(items))
    futures = [pool.submit(function, item) for item in items]
    try:
        wait(futures)
    finally:
        # on Ctrl-C too: let the running calls finish, so that teardown does not race them
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        future.result()
