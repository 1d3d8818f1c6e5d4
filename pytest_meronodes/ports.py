"""Port allocation shared by every process on the machine: xdist workers and separate sessions.

Reservations are JSON files in one directory, created under a FileLock. Each names its owner; a
reservation whose owner is dead is reclaimed. A port is also probed (TCP and UDP bind on
127.0.0.1) before it is handed out, so ports used by anything else are skipped."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from .errors import PortsUnavailableError
from .ownership import Owner, current_owner

DEFAULT_REGISTRY = Path(tempfile.gettempdir()) / "pytest-meronodes" / "ports"


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # probe as merod binds its listeners (SO_REUSEADDR): a port whose last connections
                # linger in TIME_WAIT is free, a port with a listener is not
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class PortRegistry:
    def __init__(self, port_range: tuple[int, int], directory: Path = DEFAULT_REGISTRY) -> None:
        self.low, self.high = port_range
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(directory / ".lock"), timeout=60)

    def _record(self, port: int) -> Path:
        return self.directory / f"{port}.json"

    def _owner_of(self, port: int) -> Owner | None:
        try:
            return Owner.from_dict(json.loads(self._record(port).read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def _reserved(self) -> Iterator[tuple[int, Owner | None]]:
        for record in self.directory.glob("*.json"):
            if record.stem.isdigit():
                yield int(record.stem), self._owner_of(int(record.stem))

    def reclaim_dead(self) -> list[int]:
        """Remove the reservations of dead owners; return their ports."""
        reclaimed = []
        with self._lock:
            for port, holder in self._reserved():
                if holder is None or not holder.is_alive():
                    self._record(port).unlink(missing_ok=True)
                    reclaimed.append(port)
        return sorted(reclaimed)

    def allocate(self, count: int, owner: Owner | None = None) -> list[int]:
        owner = owner or current_owner()
        size = self.high - self.low + 1
        with self._lock:
            taken = set()
            for port, holder in self._reserved():
                if holder is not None and holder.is_alive():
                    taken.add(port)
                else:
                    self._record(port).unlink(missing_ok=True)  # a dead owner's reservation
            chosen: list[int] = []
            # start at a random place so concurrent sessions rarely probe the same ports
            start = random.randrange(size)
            for offset in range(size):
                port = self.low + (start + offset) % size
                if port in taken or not _bindable(port):
                    continue
                chosen.append(port)
                if len(chosen) == count:
                    break
            if len(chosen) < count:
                reserved = sum(1 for port in taken if self.low <= port <= self.high)
                raise PortsUnavailableError(
                    f"need {count} free ports in {self.low}-{self.high} but found {len(chosen)} "
                    f"({reserved} reserved by live sessions, {size - len(chosen) - reserved} in use by other "
                    f"programs); widen or move --node-port-range"
                )
            for port in chosen:
                self._write(port, owner)
        return chosen

    def _write(self, port: int, owner: Owner) -> None:
        path = self._record(port)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(owner.as_dict(), handle)

    def release(self, ports: list[int], owner: Owner | None = None) -> None:
        owner = owner or current_owner()
        with self._lock:
            for port in ports:
                holder = self._owner_of(port)
                if holder is not None and holder == owner:
                    with contextlib.suppress(FileNotFoundError):
                        self._record(port).unlink()

    def reserved_by(self, owner: Owner) -> list[int]:
        with self._lock:
            return sorted(port for port, holder in self._reserved() if holder == owner)
