"""Reading node logs for people: the tail of a log file, without ANSI colours."""

from __future__ import annotations

import os
import re
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def without_colours(text: str) -> str:
    return ANSI.sub("", text)


def last_lines(text: str, lines: int) -> str:
    return "\n".join(without_colours(text).splitlines()[-lines:])


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a log file (read from its last 64 KiB), without ANSI colours."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return last_lines(text, lines)
