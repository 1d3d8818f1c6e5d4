"""Log lines on stdout in the format of Rust's `tracing` (what merod prints), filtered by RUST_LOG."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timezone
from typing import TextIO

LEVELS = {"error": 1, "warn": 2, "info": 3, "debug": 4, "trace": 5, "off": 0}
_COLOURS = {"ERROR": "31", "WARN": "33", "INFO": "32", "DEBUG": "34", "TRACE": "35"}


class LogFilter:
    """The subset of `tracing_subscriber::EnvFilter` syntax merod users write: `info`,
    `merod=debug,calimero_network=warn`, `calimero_node::sync=trace`."""

    def __init__(self, spec: str | None) -> None:
        self.default = LEVELS["info"]
        self.by_target: list[tuple[str, int]] = []
        for directive in (spec or "").split(","):
            directive = directive.strip()
            if not directive:
                continue
            target, _, level = directive.rpartition("=")
            if not target and directive.lower() not in LEVELS:
                # a bare target means "everything from it"
                self.by_target.append((directive, LEVELS["trace"]))
                continue
            value = LEVELS.get(level.lower(), LEVELS["info"])
            if target:
                self.by_target.append((target, value))
            else:
                self.default = value
        # longest target first, so the most specific directive wins
        self.by_target.sort(key=lambda item: len(item[0]), reverse=True)

    def enabled(self, target: str, level: str) -> bool:
        wanted = LEVELS[level.lower()]
        for prefix, allowed in self.by_target:
            if target == prefix or target.startswith(prefix + "::"):
                return wanted <= allowed
        return wanted <= self.default


class Logger:
    def __init__(self, stream: TextIO | None = None, spec: str | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.filter = LogFilter(spec if spec is not None else os.environ.get("RUST_LOG"))
        self.colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()

    def log(self, level: str, target: str, message: str) -> None:
        if not self.filter.enabled(target, level):
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        name = level.upper()
        shown = f"\x1b[{_COLOURS[name]}m{name:>5}\x1b[0m" if self.colour else f"{name:>5}"
        line = f"{stamp} {shown} {target}: {message}\n"
        with self._lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed by the reader: keep serving

    def error(self, target: str, message: str) -> None:
        self.log("error", target, message)

    def warn(self, target: str, message: str) -> None:
        self.log("warn", target, message)

    def info(self, target: str, message: str) -> None:
        self.log("info", target, message)

    def debug(self, target: str, message: str) -> None:
        self.log("debug", target, message)
