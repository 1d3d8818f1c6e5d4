"""What a test asks for: the arguments of `node_cluster(...)` and the `nodes` marker, checked
before anything starts, as a frozen ClusterSpec."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import validation
from .config import MeronodesConfig
from .errors import ConfigurationError
from .node_config import check_override_syntax, check_user_config, read_toml
from .topology import Wiring, describe, normalise, wire

ARGUMENTS = ("count", "auth", "config", "config_path", "log_level", "names", "topology")
AUTH_MODES = (None, "embedded", "proxy")


@dataclass(frozen=True)
class ClusterSpec:
    """What a test asked for, validated."""

    count: int
    auth: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    config_path: tuple[Path | None, ...] = ()  # one per node (a shared file is repeated)
    log_level: str = "info"
    names: tuple[str, ...] = ()
    topology: str = "full"  # its canonical name ("auto" resolved), or "custom"
    wiring: Wiring = ()  # each node's wired peers, in the order of `names`

    def wired_peers(self, name: str) -> tuple[str, ...]:
        return self.wiring[self.names.index(name)] if self.wiring else tuple(n for n in self.names if n != name)

def make_spec(settings: MeronodesConfig, arguments: Mapping[str, Any]) -> ClusterSpec:
    """What a test asks for, every argument checked before anything starts (the keys of `config`
    are checked against what `merod init` writes later, in node_config.compose)."""
    unknown = sorted(set(arguments) - set(ARGUMENTS))
    if unknown:
        raise ConfigurationError(
            f"unknown argument(s) {', '.join(unknown)}; node_cluster and the nodes marker take "
            f"{', '.join(ARGUMENTS)}"
        )
    count = arguments.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ConfigurationError(f"count must be a positive integer, got {count!r}")
    auth = arguments.get("auth")
    if auth not in AUTH_MODES:
        raise ConfigurationError(f"unknown auth mode {auth!r}; use None, 'embedded' or 'proxy'")
    if arguments.get("names") is not None:
        try:
            names = validation.node_names(arguments["names"], count)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        count = len(names)  # a list of names alone sets the count
    else:
        count = count or settings.count
        names = tuple(f"node{i + 1}" for i in range(count))
    overrides = arguments.get("config")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
        raise ConfigurationError(
            f"config must be a dict of dotted keys, e.g. {{'sync.interval_ms': 200}}, got {overrides!r}"
        )
    check_override_syntax(overrides)
    if settings.backend == "remote" and (overrides or arguments.get("config_path") is not None):
        raise ConfigurationError(
            "config and config_path cannot apply to remote nodes: they already run with their own config.toml; "
            "leave them out with --node-backend=remote"
        )
    config_paths = _config_paths(arguments.get("config_path"), names)
    log_level = arguments.get("log_level")
    if log_level is None:
        log_level = settings.log_level
    elif not isinstance(log_level, str):
        raise ConfigurationError(f"log_level must be a string (RUST_LOG syntax), got {log_level!r}")
    else:
        try:
            log_level = validation.log_level(log_level)
        except ValueError as error:
            raise ConfigurationError(f"log_level: {error}") from None
    topology_given = arguments.get("topology")
    try:
        topology = normalise(settings.topology if topology_given is None else topology_given, count)
        wiring = wire(topology, names)
    except ValueError as error:
        raise ConfigurationError(f"topology: {error}") from None
    return ClusterSpec(
        count=count,
        auth=auth,
        config=dict(overrides),
        config_path=config_paths,
        log_level=log_level,
        names=names,
        topology=describe(topology),
        wiring=wiring,
    )


def _config_paths(value: Any, names: Sequence[str]) -> tuple[Path | None, ...]:
    """One shared file, a list with one file per node, or a dict of node name to file; each file
    read and checked now, so that a wrong one fails before any node is initialised."""
    usage = "config_path must be a path, a list of one path (or None) per node, or {name: path}"
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)):
        paths: tuple[Any, ...] = tuple(value for _ in names)
    elif isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ConfigurationError(
                f"config_path names unknown node(s): {', '.join(sorted(map(str, unknown)))}; "
                f"the nodes are {', '.join(names)}"
            )
        paths = tuple(value.get(n) for n in names)
    elif isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ConfigurationError(f"{usage}: got {len(value)} path(s) for {len(names)} node(s)")
        paths = tuple(value)
    else:
        raise ConfigurationError(f"{usage}, got {value!r}")
    for path in paths:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError(f"{usage}: {path!r} is not a path")
    checked = tuple(Path(p) if p is not None else None for p in paths)
    for path in dict.fromkeys(p for p in checked if p is not None):
        check_user_config(read_toml(path, what="custom config"), path)
    return checked
