"""Patching a node's config.toml (written by `merod init`, never by hand): E2E defaults, the
cluster's bootstrap peers, a user's config file and dotted-key overrides."""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal
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
    except OSError as error:  # a directory, no permission
        raise ConfigurationError(f"{what} {path} cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} {path} is not valid TOML: not UTF-8 text") from None
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


# -- checking `config` overrides ------------------------------------------------------------------
def toml_type(value: object) -> str | None:
    """The TOML type a Python value is written as (tomli_w's mapping), None if it has none."""
    if isinstance(value, bool):  # before int: bool is an int in Python, not in TOML
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, (float, Decimal)):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date-time"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return None


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _not_toml(value: object) -> tuple[object] | None:
    """The first part of `value` that TOML cannot hold (None inside a list, a Path, a set), in a
    tuple (it may be None itself); None when TOML can hold all of it."""
    if toml_type(value) is None:
        return (value,)
    if isinstance(value, (list, tuple)):
        return next((bad for bad in map(_not_toml, value) if bad is not None), None)
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return (value,)
        return next((bad for bad in map(_not_toml, value.values()) if bad is not None), None)
    return None


def check_override_syntax(overrides: Mapping[str, Any]) -> None:
    """What can be checked before init: dotted keys, values TOML can hold."""
    for key, value in overrides.items():
        if not all(key.split(".")) or any(c.isspace() for c in key):
            raise ConfigurationError(f"config override key {key!r} is not a dotted key like 'sync.interval_ms'")
        bad = _not_toml(value)
        if bad is not None:
            raise ConfigurationError(
                f"config override {key!r}: {bad[0]!r} is not a TOML value; give a string, number, boolean, "
                "date/time, list or dict"
            )


def _keys(table: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in table.items():
        yield prefix + key
        if isinstance(value, Mapping):
            yield from _keys(value, f"{prefix}{key}.")


def _item_type(array: object) -> str | None:
    """The one TOML type of a non-empty array's items, if they have one (tables aside)."""
    if not isinstance(array, (list, tuple)) or not array:
        return None
    kinds = {toml_type(item) for item in array}
    return kinds.pop() if len(kinds) == 1 and kinds != {"table"} else None


def _compatible(value: object, written: object) -> bool:
    """Whether merod reads `value` where init wrote `written`: the same TOML type, or an integer
    for a float (serde reads one as the other, never the reverse); array items likewise, when
    init's array has items of one type."""
    have, want = toml_type(value), toml_type(written)
    if not (have == want or (have, want) == ("integer", "float")):
        return False
    item_type = _item_type(written)
    if item_type is not None and isinstance(value, (list, tuple)) and isinstance(written, (list, tuple)):
        return all(_compatible(item, written[0]) for item in value)
    return True


def _describe_type(written: object) -> str:
    item_type = _item_type(written)
    if item_type is not None:
        return f"an array of {item_type}s"
    return _article(toml_type(written) or type(written).__name__)


def _check_key(key: str, value: Any, generated: Mapping[str, Any], known: list[str]) -> None:
    node: Any = generated
    walked: list[str] = []
    for part in key.split("."):
        if not isinstance(node, Mapping):
            raise ConfigurationError(
                f"config override {key!r}: {'.'.join(walked)!r} is {_describe_type(node)} in the config.toml "
                "merod init wrote, not a table"
            )
        if not node and walked:
            return  # a table init wrote empty (like [runtime.limits]): its keys cannot be checked
        if part not in node:
            depth = key.count(".")  # suggest a key as deep: "sync.foo" is no misspelt "sync"
            close = difflib.get_close_matches(key, [k for k in known if k.count(".") == depth], n=1, cutoff=0.6)
            if close:
                hint = f"did you mean {close[0]!r}?"
            else:
                where = f"[{'.'.join(walked)}] has" if walked else "its top-level keys are"
                hint = f"{where} {', '.join(sorted(node))}"
            if key.startswith("server.embedded_auth.") and "embedded_auth" not in generated.get("server", {}):
                hint += "; init writes [server.embedded_auth] only for auth='embedded'"
            raise ConfigurationError(
                f"config override {key!r} is not a key of the config.toml merod init wrote (merod would ignore "
                f"it); {hint}"
            )
        walked.append(part)
        node = node[part]
    if isinstance(value, Mapping) and isinstance(node, Mapping):
        for sub_key, sub_value in value.items():  # a dict is merged key by key: check each the same way
            _check_key(f"{key}.{sub_key}", sub_value, generated, known)
        return
    if not _compatible(value, node):
        example = "" if isinstance(node, (Mapping, list)) else f", e.g. {{{key!r}: {node!r}}}"
        raise ConfigurationError(
            f"config override {key!r}: {value!r} is {_describe_type(value)}, but merod init wrote "
            f"{_describe_type(node)} there; give {_describe_type(node)}{example}"
        )


def check_overrides(generated: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Every override names a key `merod init` wrote, with a value of the type it wrote: merod's
    `config` and `run` accept unknown keys silently, so a misspelt one would change nothing."""
    known = list(_keys(generated))
    for key, value in overrides.items():
        _check_key(key, value, generated, known)


def _with_floats(value: Any, written: Any) -> Any:
    """An integer given where init wrote a float, written as a float (as init's own type)."""
    if isinstance(written, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(written, Mapping) and isinstance(value, Mapping):
        return {k: _with_floats(v, written.get(k)) for k, v in value.items()}
    return value


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
    decided), the cluster's bootstrap peers, then the dotted-key overrides (checked against
    init's config first; a dict value is merged into the table, not put in its place)."""
    check_overrides(generated, overrides)
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
        value = _with_floats(value, get_dotted(generated, key))
        table = get_dotted(config, key)
        if isinstance(value, Mapping) and isinstance(table, dict):
            _merge(table, value)
        else:
            set_dotted(config, key, _deep_copy(value))
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
