"""poll_until, the one wait behind every gate and barrier."""

from __future__ import annotations

import time

import pytest
import requests

from pytest_meronodes.errors import NodeUnreachableError
from pytest_meronodes.polling import Waiting, poll_until


class TimedOut(Exception):
    pass


def test_returns_the_first_answer_that_is_not_a_waiting() -> None:
    answers = iter([Waiting("a"), Waiting("b"), 42])
    assert poll_until(lambda: next(answers), deadline=time.monotonic() + 5, timed_out=TimedOut) == 42


def test_a_transient_failure_is_asked_again_and_named_in_the_timeout() -> None:
    def unreachable() -> int:
        raise NodeUnreachableError("node1", "cannot connect")

    with pytest.raises(TimedOut, match=r"^no connection$"):
        poll_until(unreachable, deadline=time.monotonic() + 0.05, timed_out=TimedOut,
                   transient=(requests.RequestException,))


def test_any_other_failure_propagates_at_once() -> None:
    calls = []

    def broken() -> int:
        calls.append(1)
        raise KeyError("not transient")

    with pytest.raises(KeyError):
        poll_until(broken, deadline=time.monotonic() + 5, timed_out=TimedOut, transient=(requests.RequestException,))
    assert len(calls) == 1


def test_the_check_runs_once_even_past_the_deadline_and_the_last_reason_is_reported() -> None:
    with pytest.raises(TimedOut, match=r"^HTTP 503$"):
        poll_until(lambda: Waiting("HTTP 503"), deadline=time.monotonic() - 1, timed_out=TimedOut)
    assert poll_until(lambda: "done", deadline=time.monotonic() - 1, timed_out=TimedOut) == "done"
