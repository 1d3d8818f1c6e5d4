"""Fixtures of the simulator's own tests: these always run the bundled simulator, whatever
`--merod-binary` says, because they check behaviour only the simulator promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simhelpers import SIM_COMMAND, Merod


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Merod]:
    """The simulator working in a fresh home; every process it started is stopped at teardown."""
    runner = Merod(SIM_COMMAND, tmp_path / "home", tmp_path / "logs")
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def module_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Merod]:
    """Like `sim`, shared by the tests of one module that only read from their nodes."""
    base = tmp_path_factory.mktemp("sim")
    runner = Merod(SIM_COMMAND, base / "home", base / "logs")
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    path = tmp_path / "kv_store.wasm"
    path.write_bytes(b"\0asm\1\0\0\0")
    return path
