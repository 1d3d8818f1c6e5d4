"""Who owns a resource: the run id and the owning process, identified by pid *and* start time so
that a recycled pid never passes for the dead owner."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return "" if _pid_exists(pid) else None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields and fields[0] in ("Z", "X"):
        return None  # a zombie has exited; only its parent has not collected it yet
    return fields[19] if len(fields) > 19 else ""


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    run_id: str
    pid: int
    started: str

    def is_alive(self) -> bool:
        now = process_start_time(self.pid)
        if now is None:
            return False
        # an empty start time means "could not tell": trust the pid alone
        return not self.started or not now or now == self.started

    def as_dict(self) -> dict[str, str | int]:
        return {"run_id": self.run_id, "pid": self.pid, "started": self.started}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Owner:
        return cls(str(data.get("run_id", "")), int(str(data.get("pid", 0))), str(data.get("started", "")))


@lru_cache(maxsize=1)
def current_owner() -> Owner:
    """This process as an owner; the run id is fresh per process."""
    pid = os.getpid()
    return Owner(run_id=secrets.token_hex(4), pid=pid, started=process_start_time(pid) or "")
