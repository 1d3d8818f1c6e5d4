"""Fixtures of the plugin tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .support import RECORD_ENV, Inner, stop_processes_under


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inner]:
    """An inner pytest session: a clean environment (no MERONODES_* or simulator knob MEROD_SIM_* from the outer
    run), the `record` fixture in its conftest, and its own node base directory. Whatever still runs
    from that directory afterwards is stopped by PID (the tests assert that nothing does)."""
    for name in list(os.environ):
        if name.startswith(("MERONODES_", "MEROD_SIM_")):
            monkeypatch.delenv(name)
    session = Inner(pytester, pytester.path / "nodes", pytester.path / "records.jsonl")
    monkeypatch.setenv(RECORD_ENV, str(session.record_path))
    session.conftest()
    yield session
    stop_processes_under(pytester.path)
