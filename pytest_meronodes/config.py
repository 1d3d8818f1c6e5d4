"""The plugin's configuration: one frozen dataclass built in one place from the CLI, the
environment, the ini file and the defaults, in that order of precedence.

`read_given` is the only part that reads pytest's Config and the environment; `settings_from`
picks each option's winning source, converts and checks it, from plain values alone."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from . import validation
from .backends.registry import BACKENDS
from .errors import ConfigurationError
from .options import BY_NAME, OptionSpec
from .topology import normalise

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_PORT_RANGE = re.compile(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*")
# Options whose default is a value, not "none": an empty one (`--merod-image=`) is a mistake.
_NOT_EMPTY = {
    "merod_binary": "a path, a name on PATH, or 'sim' (the simulator)",
    "merod_image": "a Docker image",
    "auth_image": "a Docker image",
    "traefik_image": "a Docker image",
    "traefik_binary": "a path or a name on PATH",
    "auth_service": "a path, a name on PATH, or 'sim' (the simulator's auth mode)",
}
_T = TypeVar("_T")


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
    topology: str = "auto"  # a name; "auto" is resolved per cluster by its node count
    reuse_nodes: bool = False  # session clusters outlive the session, for the next one to take (reuse.py)

    def __repr__(self) -> str:  # never print the password
        shown = {k: v for k, v in self.__dict__.items() if k != "node_password"}
        return f"MeronodesConfig({shown}, node_password=***)"


@dataclass(frozen=True)
class Given:
    """What each source says about one option, as pytest and the environment hand it over."""

    cli: Any = None  # config.getoption(): None (or [] for a list) when the flag is absent
    env: str | None = None  # the MERONODES_* variable, None when unset
    ini: Any = None  # config.getini(): "", [] or None when unset
    ini_error: str | None = None  # pytest's own complaint about the ini value ("invalid truth value")


def read_given(config: pytest.Config, environ: Mapping[str, str] = os.environ) -> dict[str, Given]:
    """Every option as each source gives it. The ini value is read for every option, but an ini
    value pytest cannot read is an error only when nothing before it in precedence wins."""
    given: dict[str, Given] = {}
    for name, spec in BY_NAME.items():
        try:
            ini, ini_error = config.getini(name), None
        except pytest.UsageError as error:
            ini, ini_error = None, str(error)
        given[name] = Given(config.getoption(name, default=None), environ.get(spec.env), ini, ini_error)
    return given


def winning(spec: OptionSpec, given: Given) -> tuple[Any, str]:
    """The winning raw value (CLI > env > ini > default) and where it came from, for error messages."""
    if given.cli not in (None, []):
        return given.cli, spec.flag
    if given.env is not None and given.env != "":
        return (given.env.split(",") if spec.kind == "list" else given.env), spec.env
    if given.ini_error is not None:
        hint = "; use true or false" if spec.kind == "bool" else ""
        raise ConfigurationError(f"ini {spec.name}: {given.ini_error}{hint}")
    if given.ini not in ("", [], None):
        return given.ini, f"ini {spec.name}"
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
    match = _PORT_RANGE.fullmatch(text)
    if match is None:
        raise ConfigurationError(f"{source}: port range {text!r} must look like 20000-29999")
    low, high = int(match.group(1)), int(match.group(2))
    if not 1024 <= low <= high <= 65535:
        raise ConfigurationError(f"{source}: port range {text!r} must lie within 1024-65535, low to high")
    if high == low:  # one node alone needs a server and a swarm port
        raise ConfigurationError(f"{source}: port range {text!r} holds 1 port; a node needs 2 (server and swarm)")
    return low, high


def _checked(source: str, check: Callable[[], _T]) -> _T:
    """A validator's ValueError as the usage error, prefixed with where the value came from."""
    try:
        return check()
    except ValueError as error:
        raise ConfigurationError(f"{source}: {error}") from None


def _topology(text: str) -> str:
    """A topology name, checked now ("auto" is resolved per cluster, by its node count)."""
    normalised = text.strip().lower()
    if normalised != "auto":
        normalise(normalised, 1)  # ValueError if unknown
    return normalised


def _base_dir(text: str, source: str) -> Path | None:
    if not text:
        return None
    path = Path(text).expanduser().resolve()  # ~ from an ini file or the environment too
    problem = validation.base_dir_problem(path)
    if problem:
        raise ConfigurationError(f"{source}: {problem}")
    return path


def _check_credentials(values: dict[str, Any], sources: dict[str, str]) -> None:
    """The remote backend logs in with both or neither; one alone would be silently ignored."""
    user, password = values["node_username"], values["node_password"]
    if user and not password:
        raise ConfigurationError(
            f"{sources['node_username']}: user {user!r} has no password; set MERONODES_NODE_PASSWORD "
            "(or --node-password, which shows in process lists)"
        )
    if password and not user:  # the password itself is never shown
        raise ConfigurationError(
            f"{sources['node_password']}: a password is set but no user name; set --node-username "
            "(MERONODES_NODE_USERNAME, ini node_username)"
        )


def build_config(config: pytest.Config) -> MeronodesConfig:
    return settings_from(read_given(config))


def settings_from(given: Mapping[str, Given]) -> MeronodesConfig:
    """The settings from what each source gives (an option missing from `given` is given nowhere:
    its default), every value converted and checked; a ConfigurationError names the source of the
    first value that is wrong."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in BY_NAME.items():
        raw, source = winning(spec, given.get(name, Given()))
        values[name] = _convert(spec, raw, source)
        sources[name] = source
    if values["node_backend"] not in BACKENDS:
        raise ConfigurationError(
            f"{sources['node_backend']}: unknown backend {values['node_backend']!r}; "
            f"choose one of {', '.join(BACKENDS)}"
        )
    if values["docker_home"] not in ("volume", "bind"):
        raise ConfigurationError(
            f"{sources['docker_home']}: docker home {values['docker_home']!r} must be 'volume' or 'bind'"
        )
    if values["node_count"] < 1:
        raise ConfigurationError(f"{sources['node_count']}: node count must be at least 1")
    for name, what in _NOT_EMPTY.items():
        if not values[name].strip():
            raise ConfigurationError(
                f"{sources[name]}: an empty value; give {what}, or leave the option out "
                f"(default: {BY_NAME[name].default})"
            )
    for name in ("merod_image", "auth_image", "traefik_image"):
        if any(c.isspace() for c in values[name]):
            raise ConfigurationError(
                f"{sources[name]}: Docker image {values[name]!r} contains whitespace; give an image reference "
                f"such as {BY_NAME[name].default}"
            )
    startup_timeout = _checked(
        sources["node_startup_timeout"], lambda: validation.startup_timeout(values["node_startup_timeout"])
    )
    topology = _checked(sources["node_topology"], lambda: _topology(values["node_topology"]))
    log_level = _checked(sources["node_log_level"], lambda: validation.log_level(values["node_log_level"]))
    node_cpus = _checked(sources["node_cpus"], lambda: validation.node_cpus(values["node_cpus"]))
    if values["node_memory"]:
        _checked(sources["node_memory"], lambda: validation.memory_bytes(values["node_memory"]))
    node_urls = _checked(sources["node_url"], lambda: validation.node_urls(values["node_url"]))
    if values["node_backend"] == "remote":
        _check_credentials(values, sources)
        if values["reuse_nodes"]:
            raise ConfigurationError(
                f"{sources['reuse_nodes']}: remote nodes are never started or stopped by pytest-meronodes: there is "
                f"nothing to keep for reuse; leave --reuse-nodes out with --node-backend=remote"
            )
    return MeronodesConfig(
        backend=values["node_backend"],
        merod_binary=values["merod_binary"],
        count=values["node_count"],
        topology=topology,
        log_level=log_level,
        startup_timeout=startup_timeout,
        port_range=_port_range(values["node_port_range"], sources["node_port_range"]),
        keep_nodes=values["keep_nodes"],
        keep_nodes_on_failure=values["keep_nodes_on_failure"],
        reuse_nodes=values["reuse_nodes"],
        base_dir=_base_dir(values["node_base_dir"], sources["node_base_dir"]),
        merod_image=values["merod_image"],
        auth_image=values["auth_image"],
        traefik_image=values["traefik_image"],
        traefik_binary=values["traefik_binary"],
        auth_service=values["auth_service"],
        force_pull=values["force_pull"],
        docker_home=values["docker_home"],
        node_cpus=node_cpus,
        node_memory=values["node_memory"].strip(),
        node_urls=node_urls,
        node_username=values["node_username"],
        node_password=values["node_password"],
    )
