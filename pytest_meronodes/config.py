"""The plugin's configuration: one frozen dataclass built in one place from CLI, env, ini and
defaults, in that order of precedence."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from .options import BY_NAME


@dataclass(frozen=True)
class MeronodesConfig:
    merod_binary: str


def _value(config: pytest.Config, name: str) -> str:
    spec = BY_NAME[name]
    from_cli = config.getoption(name, default=None)
    if from_cli is not None:
        return str(from_cli)
    from_env = os.environ.get(spec.env)
    if from_env:
        return from_env
    from_ini = config.getini(name)
    if from_ini:
        return str(from_ini)
    return spec.default


def build_config(config: pytest.Config) -> MeronodesConfig:
    return MeronodesConfig(merod_binary=_value(config, "merod_binary"))
