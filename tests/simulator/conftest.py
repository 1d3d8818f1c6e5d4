"""Fixtures of the simulator's own tests: these always run the bundled simulator, whatever
`--merod-binary` says, because they check behaviour only the simulator promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simhelpers import SIM_COMMAND, Merod, merod_in, write_fake_app


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Merod]:
    """The simulator working in a fresh home; every process it started is stopped at teardown."""
    with merod_in(SIM_COMMAND, tmp_path) as runner:
        yield runner


@pytest.fixture(scope="module")
def module_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Merod]:
    """Like `sim`, shared by the tests of one module that only read from their nodes."""
    with merod_in(SIM_COMMAND, tmp_path_factory.mktemp("sim")) as runner:
        yield runner


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    return write_fake_app(tmp_path / "kv_store.wasm")
