"""One way to wait: ask a check again and again, a little slower each time, until it says done
or the deadline passes. Every start gate and every wait of the plugin is a poll_until."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, Union

import requests

from .errors import NodeTimeoutError, NodeUnreachableError

T = TypeVar("T")


class Abandoned(Exception):
    """A wait given up because the caller no longer needs it (another node's start failed)."""


@dataclass(frozen=True)
class Waiting:
    """A check's "not yet", and why: the last one is what a timeout reports."""

    why: str


def poll_interval(attempt: int) -> float:
    """Fast first polls (a node answers within ~0.1 s), then gentler ones: 10, 12, 16, 20 ms..."""
    return min(0.01 * (1.25**attempt), 0.25)


def describe_failure(error: BaseException) -> str:
    """A transient failure in a few words, for "last answer: ..."."""
    if isinstance(error, NodeUnreachableError):
        return "no connection"  # nothing listens yet
    if isinstance(error, (NodeTimeoutError, requests.Timeout)):
        return "no answer in time"
    return type(error).__name__


def poll_until(
    check: Callable[[], Union[T, Waiting]],
    *,
    deadline: float,
    timed_out: Callable[[str], BaseException],
    transient: tuple[type[BaseException], ...] = (),
    min_interval: float = 0.0,
    give_up: Callable[[], bool] | None = None,
) -> T:
    """`check()`'s first result that is not a Waiting. An exception in `transient` counts as a
    Waiting (described by describe_failure); any other propagates at once. When the deadline has
    passed, `timed_out(last why)` is raised; the check runs at least once. `min_interval` spares
    a node that cannot change faster (sync) from fast polls. Abandoned is raised as soon as
    `give_up()` says so."""
    attempt = 0
    while True:
        if give_up is not None and give_up():
            raise Abandoned()
        try:
            result = check()
        except transient as error:
            result = Waiting(describe_failure(error))
        if not isinstance(result, Waiting):
            return result
        if time.monotonic() > deadline:
            raise timed_out(result.why)
        time.sleep(max(min_interval, poll_interval(attempt)))
        attempt += 1
