"""Port allocation shared by every process on the machine, whoever runs it: xdist workers, separate
sessions and other Unix users' sessions.

Reservations are JSON files (0644) in one machine-wide directory (mode 1777, see state_dir.py),
created under a FileLock every user can take. Each names its owner. A reservation of this user
whose owner is dead is reclaimed; one of another user (a file it owns) is read-only data: its port
counts as taken whether its owner lives or not, and only that user's sessions ever remove it. A
port is also probed (TCP and UDP bind on 127.0.0.1) before it is handed out, so ports used by
anything else are skipped."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import state_dir
from .errors import PortsUnavailableError
from .ownership import Owner

# The machine-wide registry, unchecked (as of import: the code asks state_dir, which checks).
DEFAULT_REGISTRY = state_dir.ports_dir_path()
RESERVATION_MODE = 0o644  # other users read whose a port is (`python -m pytest_meronodes ps`)


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


@dataclass(frozen=True)
class Reservation:
    port: int
    uid: int  # who owns the file: the user whose session reserved the port
    owner: Owner | None  # None: unreadable or not a reservation

    @property
    def foreign(self) -> bool:
        return self.uid != os.geteuid()


def _read(path: Path) -> tuple[int, Owner | None] | None:
    """(file owner uid, reservation owner) of a regular file, never following a symbolic link or
    blocking on a FIFO that someone put in the shared directory; None when there is no file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        # a symbolic link (ELOOP) or a file we may not read: whoever put it there owns the name
        try:
            return os.lstat(path).st_uid, None
        except FileNotFoundError:
            return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return info.st_uid, None
        try:
            return info.st_uid, Owner.from_dict(json.loads(handle.read(4096)))
        except (ValueError, TypeError, AttributeError):
            return info.st_uid, None


class PortRegistry:
    def __init__(self, port_range: tuple[int, int], directory: Path | None = None) -> None:
        self.low, self.high = port_range
        self.directory = state_dir.ensure_shared_dir(directory if directory is not None else state_dir.ports_dir_path())
        self._lock = state_dir.shared_lock(self.directory)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.acquire()
        except PermissionError as error:
            raise state_dir.lock_error(self.directory, error) from None
        try:
            yield
        finally:
            self._lock.release()

    def _record(self, port: int) -> Path:
        return self.directory / f"{port}.json"

    def _reservations(self) -> Iterator[Reservation]:
        for path in self.directory.glob("*.json"):
            if path.stem.isdigit():
                found = _read(path)
                if found is not None:
                    yield Reservation(int(path.stem), found[0], found[1])

    def _remove_own(self, port: int) -> None:
        """Remove this user's reservation file; never another user's (the sticky bit would refuse it
        for most, but not for root, nor for the directory's owner)."""
        path = self._record(port)
        with contextlib.suppress(FileNotFoundError):
            if os.lstat(path).st_uid == os.geteuid():
                path.unlink()

    def reclaim_dead(self) -> list[int]:
        """Remove this user's reservations whose owners are dead; return their ports."""
        reclaimed = []
        with self._locked():
            for reservation in self._reservations():
                if reservation.foreign:
                    continue
                if reservation.owner is None or not reservation.owner.is_alive():
                    self._remove_own(reservation.port)
                    reclaimed.append(reservation.port)
        return sorted(reclaimed)

    def allocate(self, count: int, owner: Owner) -> list[int]:
        size = self.high - self.low + 1
        with self._locked():
            taken = set()
            foreign = set()
            for reservation in self._reservations():
                if reservation.foreign:
                    foreign.add(reservation.port)  # alive or not: another user's to remove
                elif reservation.owner is not None and reservation.owner.is_alive():
                    taken.add(reservation.port)
                else:
                    self._remove_own(reservation.port)  # a dead owner's reservation
            chosen: list[int] = []
            # start at a random place so concurrent sessions rarely probe the same ports
            start = random.randrange(size)
            for offset in range(size):
                port = self.low + (start + offset) % size
                if port in taken or port in foreign or not _bindable(port):
                    continue
                chosen.append(port)
                if len(chosen) == count:
                    break
            if len(chosen) < count:
                reserved = sum(1 for port in taken if self.low <= port <= self.high)
                others = sum(1 for port in foreign if self.low <= port <= self.high)
                used = size - len(chosen) - reserved - others
                raise PortsUnavailableError(
                    f"need {count} free ports in {self.low}-{self.high} but found {len(chosen)} "
                    f"({reserved} reserved by live sessions, "
                    + (f"{others} by other users' sessions, " if others else "")
                    + f"{used} in use by other programs); widen or move --node-port-range"
                )
            for port in chosen:
                self._write(port, owner)
        return chosen

    def _write(self, port: int, owner: Owner) -> None:
        # O_EXCL: never through a name someone else put there (a symbolic link, another file)
        fd = os.open(self._record(port), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, RESERVATION_MODE)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), RESERVATION_MODE)  # whatever the umask: other users read it
            json.dump(owner.as_dict(), handle)

    def release(self, ports: list[int], owner: Owner) -> None:
        with self._locked():
            for port in ports:
                found = _read(self._record(port))
                if found is not None and found[0] == os.geteuid() and found[1] == owner:
                    self._remove_own(port)

    def reserved_by(self, owner: Owner) -> list[int]:
        with self._locked():
            return sorted(r.port for r in self._reservations() if not r.foreign and r.owner == owner)

    def reservations(self) -> list[Reservation]:
        """Every reservation, this user's and other users' (for `ps`)."""
        with self._locked():
            return sorted(self._reservations(), key=lambda r: r.port)
