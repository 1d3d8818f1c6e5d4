"""Fixtures of the bad-input tests: an inner pytest session, and the Docker fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.docker_backend.conftest import docker_args, docker_client
from tests.plugin.support import RECORD_ENV, Inner, stop_processes_under

__all__ = ["docker_args", "docker_client", "inner"]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inner]:
    """An inner session in a clean environment (no MERONODES_* or simulator fault from the outer
    run), whose node homes live in `<pytester.path>/nodes`. Whatever still runs from its directory
    afterwards is stopped by PID; the tests assert that nothing does."""
    for name in list(os.environ):
        if name.startswith("MERONODES_") or name == "MEROD_SIM_FAULT":
            monkeypatch.delenv(name)
    session = Inner(pytester, pytester.path / "nodes", pytester.path / "records.jsonl")
    monkeypatch.setenv(RECORD_ENV, str(session.record_path))
    session.conftest()
    yield session
    stop_processes_under(pytester.path)
