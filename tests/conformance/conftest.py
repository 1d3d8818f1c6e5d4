"""Fixtures of the conformance suite: the merod program under test comes from the plugin's
`--merod-binary` option (ini `merod_binary`, env MERONODES_MEROD_BINARY), so the same checks run
against the simulator and against a real merod.

The application the app-flow checks install comes from `--conformance-app PATH` (declared in the
root conftest) or env MERONODES_CONFORMANCE_APP: Calimero's kv-store .wasm, whose `set`/`get`
take `key`/`value`. The simulator runs its built-in kv-store whatever file it is given, so against
it any file will do; against a real merod without an application those checks are skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.merod_program import MerodProgram, resolve
from tests.simhelpers import Merod, merod_in, write_fake_app

APP_ENV = "MERONODES_CONFORMANCE_APP"
APP_OPTION = "--conformance-app"
NEEDS_APP = f"needs {APP_OPTION} PATH (a kv-store .wasm)"


@pytest.fixture(scope="session")
def merod(meronodes_config: MeronodesConfig) -> MerodProgram:
    return resolve(meronodes_config.merod_binary)


@pytest.fixture
def nodes(merod: MerodProgram, tmp_path: Path) -> Iterator[Merod]:
    """A merod working in a fresh home; every node it started is stopped at teardown."""
    with merod_in(merod.command, tmp_path) as runner:
        yield runner


@pytest.fixture(scope="module")
def module_nodes(merod: MerodProgram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Merod]:
    """Like `nodes`, shared by the read-only checks of one module to save node start-ups."""
    with merod_in(merod.command, tmp_path_factory.mktemp("merod")) as runner:
        yield runner


@pytest.fixture(scope="session")
def conformance_app(
    request: pytest.FixtureRequest, merod: MerodProgram, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The application to install: the one given, else (simulator only) any file."""
    configured = request.config.getoption(APP_OPTION) or os.environ.get(APP_ENV)
    if configured:
        path = Path(configured).resolve()
        if not path.is_file():
            raise pytest.UsageError(f"{APP_OPTION} {configured}: no such file")
        return path
    if not merod.is_simulator:
        pytest.skip(NEEDS_APP)
    return write_fake_app(tmp_path_factory.mktemp("app") / "kv_store.wasm")
