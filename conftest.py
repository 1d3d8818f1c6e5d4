"""Root conftest: makes the repository importable for the test helpers (`tests.simhelpers`).

The plugin itself is loaded through its pytest11 entry point, as users load it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the conformance suite (tests/conformance). Declared here because pytest reads
    command-line options only from initial conftests."""
    parser.getgroup("meronodes conformance").addoption(
        "--conformance-app",
        metavar="PATH",
        default=None,
        help="the application the conformance suite installs (Calimero's kv-store .wasm; also env "
        "MERONODES_CONFORMANCE_APP). Without one, the checks that need an application run only against "
        "the simulator, which runs its built-in kv-store whatever file it is given",
    )


@pytest.fixture(scope="session", autouse=True)
def _release_helper_ports() -> Iterator[None]:
    """Ports that tests reserved for nodes they start by hand are given back at the session's end
    (a crashed worker's are reclaimed by the next allocation, as the plugin's own are)."""
    yield
    helpers = sys.modules.get("tests.simhelpers")
    if helpers is not None:
        helpers.release_helper_ports()
