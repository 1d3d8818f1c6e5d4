"""Patching a node's config.toml (written by `merod init`, never by hand): E2E defaults, the
cluster's bootstrap peers, a user's config file and dotted-key overrides."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigurationError

REQUIRED_SECTIONS = ("swarm", "server", "sync", "datastore", "blobstore", "context")
# What a node's own init decides and a shared user config must never override.
_PER_NODE_KEYS = ("identity", "swarm.listen", "server.listen")


def read_toml(path: Path, *, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{what} {path} is not valid TOML: {error}") from None


def parse_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def dump_toml(data: Mapping[str, Any]) -> bytes:
    return tomli_w.dumps(dict(data)).encode("utf-8")


def write_toml(path: Path, data: Mapping[str, Any]) -> None:
    """Atomic, 0600 like merod's own write."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(dict(data), handle)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def get_dotted(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if not all(parts):
        raise ConfigurationError(f"config override key {key!r} is not a dotted key like 'sync.interval_ms'")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigurationError(f"config override {key!r}: {part!r} is not a table")
        node = child
    node[parts[-1]] = value


def e2e_defaults(namespace: str) -> dict[str, Any]:
    """What Calimero's own harnesses set for end-to-end runs (interface section 2)."""
    return {
        "bootstrap.nodes": [],
        "discovery.rendezvous.namespace": namespace,
        "discovery.mdns": False,
        "sync.timeout_ms": 30000,
        "sync.interval_ms": 500,
        "sync.frequency_ms": 1000,
    }


def check_user_config(data: Mapping[str, Any], path: Path) -> None:
    missing = [name for name in REQUIRED_SECTIONS if not isinstance(data.get(name), Mapping)]
    if missing:
        raise ConfigurationError(
            f"custom config {path} lacks required section(s) {', '.join(f'[{m}]' for m in missing)}; "
            f"start from a config.toml written by `merod init`"
        )


def compose(
    generated: dict[str, Any],
    *,
    namespace: str,
    bootstrap: list[str],
    user_path: Path | None,
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """The node's final config, in this order: init's config, the E2E defaults, the user's file
    (whose values win, except this node's identity, listen addresses and auth setup, which init
    decided), the cluster's bootstrap peers, then the dotted-key overrides."""
    config: dict[str, Any] = _deep_copy(generated)
    for key, value in e2e_defaults(namespace).items():
        set_dotted(config, key, value)
    if user_path is not None:
        user_config = read_toml(user_path, what="custom config")
        check_user_config(user_config, user_path)
        _merge(config, user_config)
        # init's choices must stand: they match this node's ports, keypair and admin account
        for key in (*_PER_NODE_KEYS, "server.auth_mode", "server.embedded_auth"):
            value = get_dotted(generated, key)
            if value is not None:
                set_dotted(config, key, _deep_copy(value))
    set_dotted(config, "bootstrap.nodes", list(bootstrap))
    for key, value in overrides.items():
        set_dotted(config, key, value)
    return config


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = _deep_copy(value)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
