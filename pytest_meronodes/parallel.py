"""Doing one thing for many nodes at once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_parallel(function: Callable[[T], Any], items: list[T]) -> None:
    """Run `function` on every item at once; re-raise the first error after all have finished."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(function, item) for item in items]
    for future in futures:
        future.result()
