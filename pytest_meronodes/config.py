"""The plugin's configuration: one frozen dataclass built in one place from the CLI, the
environment, the ini file and the defaults, in that order of precedence."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .errors import ConfigurationError
from .options import BACKENDS, BY_NAME, OptionSpec

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class MeronodesConfig:
    backend: str
    merod_binary: str
    count: int
    log_level: str
    startup_timeout: float
    port_range: tuple[int, int]
    keep_nodes: bool
    keep_nodes_on_failure: bool
    base_dir: Path | None
    merod_image: str
    auth_image: str
    traefik_image: str
    traefik_binary: str
    auth_service: str
    force_pull: bool
    docker_home: str
    node_cpus: float
    node_memory: str
    node_urls: tuple[str, ...]
    node_username: str
    node_password: str

    def __repr__(self) -> str:  # never print the password
        shown = {k: v for k, v in self.__dict__.items() if k != "node_password"}
        return f"MeronodesConfig({shown}, node_password=***)"


def _raw(config: pytest.Config, spec: OptionSpec) -> tuple[Any, str]:
    """The winning raw value and where it came from, for error messages."""
    from_cli = config.getoption(spec.name, default=None)
    if from_cli not in (None, []):
        return from_cli, spec.flag
    from_env = os.environ.get(spec.env)
    if from_env is not None and from_env != "":
        return (from_env.split(",") if spec.kind == "list" else from_env), spec.env
    from_ini = config.getini(spec.name)
    if from_ini not in ("", [], None):
        return from_ini, f"ini {spec.name}"
    return ([] if spec.kind == "list" else spec.default), "default"


def _convert(spec: OptionSpec, value: Any, source: str) -> Any:
    try:
        if spec.kind == "int":
            return int(value)
        if spec.kind == "float":
            return float(value)
        if spec.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if spec.kind == "list":
            items = value if isinstance(value, list) else str(value).split()
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(value)
    except ValueError:
        raise ConfigurationError(f"{source}: {value!r} is not a valid {spec.kind} for {spec.flag}") from None


def _port_range(text: str, source: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last)
    except ValueError:
        raise ConfigurationError(f"{source}: port range {text!r} must look like 20000-29999") from None
    if not 1024 <= low <= high <= 65535:
        raise ConfigurationError(f"{source}: port range {text!r} must lie within 1024-65535, low to high")
    return low, high


def build_config(config: pytest.Config) -> MeronodesConfig:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in BY_NAME.items():
        raw, source = _raw(config, spec)
        values[name] = _convert(spec, raw, source)
        sources[name] = source
    if values["node_backend"] not in BACKENDS:
        raise ConfigurationError(
            f"{sources['node_backend']}: unknown backend {values['node_backend']!r}; "
            f"choose one of {', '.join(BACKENDS)}"
        )
    if values["docker_home"] not in ("volume", "bind"):
        raise ConfigurationError(f"{sources['docker_home']}: --docker-home must be 'volume' or 'bind'")
    if values["node_count"] < 1:
        raise ConfigurationError(f"{sources['node_count']}: node count must be at least 1")
    if values["node_startup_timeout"] <= 0:
        raise ConfigurationError(f"{sources['node_startup_timeout']}: startup timeout must be positive")
    return MeronodesConfig(
        backend=values["node_backend"],
        merod_binary=values["merod_binary"],
        count=values["node_count"],
        log_level=values["node_log_level"],
        startup_timeout=values["node_startup_timeout"],
        port_range=_port_range(values["node_port_range"], sources["node_port_range"]),
        keep_nodes=values["keep_nodes"],
        keep_nodes_on_failure=values["keep_nodes_on_failure"],
        base_dir=Path(values["node_base_dir"]).resolve() if values["node_base_dir"] else None,
        merod_image=values["merod_image"],
        auth_image=values["auth_image"],
        traefik_image=values["traefik_image"],
        traefik_binary=values["traefik_binary"],
        auth_service=values["auth_service"],
        force_pull=values["force_pull"],
        docker_home=values["docker_home"],
        node_cpus=values["node_cpus"],
        node_memory=values["node_memory"],
        node_urls=values["node_url"],
        node_username=values["node_username"],
        node_password=values["node_password"],
    )
