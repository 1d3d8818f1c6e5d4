"""Checks of what a user gives the plugin (options and fixture arguments), as pure functions: each
returns the usable value or raises ValueError saying what is wrong and how to fix it. Callers add
where the value came from (a flag, an environment variable, an ini key, an argument)."""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

LOG_LEVELS = ("error", "warn", "info", "debug", "trace", "off")
# A tracing/env_logger target is a Rust module path: crate names have '_' where Cargo has '-'.
_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*")
LOG_LEVEL_HELP = (
    f"give a level ({', '.join(LOG_LEVELS)}) or target=level directives separated by commas, "
    "e.g. info,calimero_node=debug"
)

# Docker's own minimum (the engine refuses less); docker-py's units, optionally followed by 'b'.
MIN_MEMORY = 6 * 1024 * 1024
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)([bkmg]|[kmg]b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_CPUS = 0.01  # Docker's minimum for --cpus (NanoCPUs)
MAX_TIMEOUT = 86400.0  # a day: beyond that a timeout is a mistake, and huge ones overflow poll()

# A node name becomes a directory, a `--node` argument (a leading '-' would be read as a flag), a
# Docker container and host name and, behind the proxy, a DNS label of its Host name.
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
NODE_NAME_RULE = "ASCII letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"


def log_level(text: str) -> str:
    """A RUST_LOG filter: comma-separated directives `level` or `target=level`. Stricter than merod:
    it takes a bare word as a target, so a misspelt level ('inf') would silently log nothing."""
    if not text.strip():
        raise ValueError(f"log level {text!r} is empty; {LOG_LEVEL_HELP}")
    for directive in text.split(","):
        target, equals, level = directive.strip().rpartition("=")
        if not directive.strip():
            problem = "has an empty directive"
        elif level.lower() not in LOG_LEVELS:
            problem = f"{level!r} is not a level"
        elif equals and not _TARGET.fullmatch(target):
            problem = f"{target!r} is not a target (a Rust module path such as calimero_node::sync)"
        else:
            continue
        raise ValueError(f"log level {text!r} is not RUST_LOG syntax: {problem}; {LOG_LEVEL_HELP}")
    return text.strip()


def memory_bytes(text: str) -> int:
    """Docker's memory format (a number and a unit b, k, m or g), at least Docker's 6 MB."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"node memory {text!r} is not in Docker's format: a number and a unit b, k, m or g, e.g. 512m "
            "(empty: no cap)"
        )
    number, unit = match.groups()
    value = int(float(number) * _UNITS[(unit or "")[:1].lower()])
    if value < MIN_MEMORY:
        raise ValueError(f"node memory {text!r} is below Docker's minimum of 6m; give e.g. 512m (empty: no cap)")
    return value


def node_cpus(value: float) -> float:
    if not math.isfinite(value) or value < 0 or 0 < value < MIN_CPUS:
        raise ValueError(f"node cpus must be 0 (no cap) or a number of CPUs of at least {MIN_CPUS}, got {value!r}")
    return value


def startup_timeout(value: float) -> float:
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT:
        raise ValueError(
            f"startup timeout must be positive and finite, in seconds (at most {MAX_TIMEOUT:g}), got {value!r}"
        )
    return value


def node_url(url: str) -> str:
    """The root URL of a running node: http(s), a host, an optional valid port, nothing else. The
    client appends API paths to it; credentials go in --node-username and the password option."""
    example = "e.g. http://127.0.0.1:2528"
    if any(c.isspace() for c in url):
        raise ValueError(f"node URL {url!r} contains whitespace; {example}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed [IPv6 address
        raise ValueError(f"node URL {url!r} is not a URL ({error}); {example}") from None
    if parts.scheme not in ("http", "https") or not url.lower().startswith(f"{parts.scheme}://"):
        raise ValueError(f"node URL {url!r} must start with http:// or https://, {example}")
    if "@" in parts.netloc:  # never echo a password written into the URL
        raise ValueError(
            f"node URL {parts.scheme}://<credentials>@{parts.netloc.rpartition('@')[2]} carries credentials; "
            "set --node-username and MERONODES_NODE_PASSWORD instead"
        )
    if not parts.hostname:
        raise ValueError(f"node URL {url!r} names no host; {example}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError(f"node URL {url!r} has an invalid port; give 1-65535, {example}")
    root = f"{parts.scheme}://{parts.netloc}"
    for what, present in (("a path", parts.path.strip("/")), ("a query", "?" in url), ("a fragment", "#" in url)):
        if present:
            raise ValueError(f"node URL {url!r} has {what}; give the node's root URL, e.g. {root}")
    return root


def node_urls(urls: Sequence[str]) -> tuple[str, ...]:
    checked = tuple(node_url(url) for url in urls)
    for index, url in enumerate(checked):
        if url in checked[:index]:
            raise ValueError(f"node URL {url!r} is given twice; each remote node needs its own URL")
    return checked


def base_dir_problem(path: Path) -> str | None:
    """Why node homes cannot go under `path`, or None. It need not exist yet, but then its nearest
    existing ancestor must take a new directory. Tried for real: root passes os.access() checks
    that a read-only file system then refuses."""
    fix = "give a directory you can write to, or leave it unset for the default"
    existing = path
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        is_dir = existing.is_dir()
    except OSError as error:
        return f"node base dir {str(path)!r} cannot be examined ({error.strerror}); {fix}"
    if existing == path:
        what = f"node base dir {str(path)!r} exists but is not a writable directory"
    else:
        what = f"node base dir {str(path)!r} cannot be created: {str(existing)!r} is not a writable directory"
    if not is_dir:
        return f"{what} (not a directory); {fix}"
    try:
        Path(tempfile.mkdtemp(prefix=".meronodes-probe-", dir=existing)).rmdir()
    except OSError as error:
        return f"{what} ({error.strerror}); {fix}"
    return None


def node_names(names: object, count: object) -> tuple[str, ...]:
    """The names of a cluster's nodes; `count`, when given, must agree with them."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"names must be a non-empty list of node names, e.g. names=['alice', 'bob'], got {names!r}")
    listed = list(names)
    expected = count if isinstance(count, int) and not isinstance(count, bool) else len(listed)
    if count is not None and expected != len(listed):
        raise ValueError(
            f"names must be {expected} distinct names, one per node (count={count!r}), got {len(listed)}: "
            f"{listed!r}; give one name per node, or leave out count (a list of names alone sets it)"
        )
    for name in listed:
        if not isinstance(name, str) or not _NODE_NAME.fullmatch(name):
            raise ValueError(
                f"names must be {len(listed)} distinct names of {NODE_NAME_RULE}, got {listed!r}: "
                f"{name!r} is not such a name"
            )
    seen: dict[str, str] = {}
    for name in listed:
        if name.lower() in seen:
            raise ValueError(
                f"names must be {len(listed)} distinct names, got {listed!r}: {name!r} repeats "
                f"{seen[name.lower()]!r} (compared ignoring case: names become file and host names)"
            )
        seen[name.lower()] = name
    return tuple(listed)
