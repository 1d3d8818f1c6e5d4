"""pytest-meronodes hooks, options and default fixtures."""

from __future__ import annotations

import pytest

from .config import MeronodesConfig, build_config
from .merod_program import MerodProgramError, resolve
from .options import GROUP, OPTIONS

_CONFIG_KEY = pytest.StashKey[MeronodesConfig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "Calimero node clusters (pytest-meronodes)")
    for spec in OPTIONS:
        group.addoption(spec.flag, dest=spec.name, default=None, help=f"{spec.help} [env {spec.env}]")
        parser.addini(spec.name, f"{spec.help} (default: {spec.default})", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CONFIG_KEY] = build_config(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[_CONFIG_KEY]
    try:
        program = resolve(settings.merod_binary)
        described = f"{program.describe()} ({program.version()})"
    except MerodProgramError as error:
        described = f"unavailable: {error}"
    return [f"meronodes: merod={described}"]


@pytest.fixture(scope="session")
def meronodes_config(pytestconfig: pytest.Config) -> MeronodesConfig:
    """The resolved pytest-meronodes settings of this session."""
    return pytestconfig.stash[_CONFIG_KEY]
