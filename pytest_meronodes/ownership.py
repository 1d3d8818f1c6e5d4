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


def process_uid(pid: int) -> int | None:
    """The (effective) uid a live process runs as, or None if it is gone."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def process_environment(pid: int) -> list[bytes] | None:
    """The NAME=value entries a process was started with, or None when they cannot be read: the
    kernel shows them only to the process's own user (and root), which is what makes an entry we
    put there proof that the process is one we started."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return None


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


def new_owner() -> Owner:
    """This process as the owner of a new run, with a fresh run id (the plugin makes one per
    session, in its RunContext)."""
    pid = os.getpid()
    return Owner(run_id=secrets.token_hex(4), pid=pid, started=process_start_time(pid) or "")


@lru_cache(maxsize=1)
def host_key() -> str:
    """What makes a pid and a start time meaningful: the boot (start times count clock ticks since
    boot) and the pid namespace (pids are numbered per namespace). Two processes that share a Docker
    engine but not this key (a CI job in a container with the engine's socket, a remote engine)
    cannot judge whether each other's owner is alive."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = ""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{boot}/{namespace}"
