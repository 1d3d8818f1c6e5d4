"""Fixtures of the conformance suite: the merod program under test comes from the plugin's
`--merod-binary` option (ini `merod_binary`, env MERONODES_MEROD_BINARY), so the same checks run
against the simulator and against a real merod."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.merod_program import MerodProgram, resolve
from tests.simhelpers import Merod

# A real merod installs only a real WASM application; point this at one (e.g. Calimero's
# kv-store example, whose `set`/`get` take `key`/`value`) when checking a real binary.
APP_ENV = "MERONODES_CONFORMANCE_APP"


@pytest.fixture(scope="session")
def merod(meronodes_config: MeronodesConfig) -> MerodProgram:
    return resolve(meronodes_config.merod_binary)


@pytest.fixture
def nodes(merod: MerodProgram, tmp_path: Path) -> Iterator[Merod]:
    """A merod working in a fresh home; every node it started is stopped at teardown."""
    runner = Merod(merod.command, tmp_path / "home", tmp_path / "logs")
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def module_nodes(merod: MerodProgram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Merod]:
    """Like `nodes`, shared by the read-only checks of one module to save node start-ups."""
    base = tmp_path_factory.mktemp("merod")
    runner = Merod(merod.command, base / "home", base / "logs")
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    configured = os.environ.get(APP_ENV)
    if configured:
        return Path(configured).resolve()
    path = tmp_path / "kv_store.wasm"
    path.write_bytes(b"\0asm\1\0\0\0")  # the simulator accepts any file
    return path
