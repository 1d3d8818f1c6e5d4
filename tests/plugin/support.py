"""Helpers of the plugin tests: running an inner pytest session, reading what its tests recorded,
fake merod programs, and finding what a session left behind (processes, homes, reservations)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes.ownership import Owner
from pytest_meronodes.ports import DEFAULT_REGISTRY
from tests.simhelpers import SIM_COMMAND

# An inner session starts a few clusters; generous because `-n 2` shares two cores.
INNER_TIMEOUT = 240.0
RECORD_ENV = "PLUGIN_TEST_RECORD"

# The inner session's conftest: a `record` fixture that appends one JSON line per call (a single
# write on an O_APPEND descriptor, so xdist workers never interleave), describing a cluster.
INNER_CONFTEST = f'''
import json
import os
import time

import pytest


def append_record(fields):
    path = os.environ.get({RECORD_ENV!r})
    if not path:
        return
    line = (json.dumps(fields) + "\\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def describe(cluster):
    return {{
        "cluster": cluster.id,
        "names": [node.name for node in cluster],
        "urls": [node.url for node in cluster],
        "ports": [port for node in cluster for port in (node.rpc_port, node.swarm_port)],
        "node_pids": [node.runtime.pid for node in cluster if getattr(node.runtime, "pid", None)],
        "homes": [str(node.home) for node in cluster if node.home is not None],
        "peer_ids": [node.peer_id for node in cluster],
    }}


def pytest_sessionstart(session):
    append_record({{"session_pid": os.getpid()}})


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
def pytest_sessionfinish(session):
    # what this process still holds in the port registry, asked while it is alive (a dead owner's
    # reservations may be reclaimed by any other session before the outer test could look)
    from pytest_meronodes.ports import PortRegistry

    held = [reservation.port for reservation in PortRegistry((1024, 65535)).reservations()
            if reservation.owner is not None and reservation.owner.pid == os.getpid() and not reservation.foreign]
    append_record({{"session_end_pid": os.getpid(), "reserved": held}})


@pytest.fixture
def record(request):
    def record(cluster, **extra):
        append_record({{
            "test": request.node.nodeid,
            "worker_pid": os.getpid(),
            "time": time.monotonic(),
            **describe(cluster),
            **extra,
        }})

    return record
'''


@dataclass
class Inner:
    """An inner pytest session in a pytester directory, with its own node base directory."""

    pytester: pytest.Pytester
    base_dir: Path
    record_path: Path

    def run(self, *args: str, base_dir: bool = True) -> pytest.RunResult:
        """pytest in a subprocess, with `--node-base-dir` unless `base_dir=False`."""
        extra = [f"--node-base-dir={self.base_dir}"] if base_dir else []
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *extra, *args, timeout=INNER_TIMEOUT)

    def conftest(self, extra: str = "") -> None:
        self.pytester.makeconftest(INNER_CONFTEST + "\n\n" + extra)

    def lines(self) -> list[dict[str, Any]]:
        if not self.record_path.exists():
            return []
        return [json.loads(line) for line in self.record_path.read_text().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        """What the inner tests recorded with the `record` fixture."""
        return [line for line in self.lines() if "test" in line]

    def session_pids(self) -> set[int]:
        """The pids of the inner pytest processes (the controller and every xdist worker)."""
        return {int(line["session_pid"]) for line in self.lines() if "session_pid" in line}

    def assert_nothing_left(self, base_dir: Path | None = None) -> None:
        """Nothing of the inner session is left: see `assert_nothing_left`, and no port is reserved
        by any of its processes."""
        assert self.session_pids(), "the inner session recorded no pid: did it run?"
        left = processes_under(self.pytester.path)
        assert left == {}, f"processes left running: {left}"
        assert_nothing_left(base_dir or self.base_dir, self.records())
        held = reservations_held_by(self.session_pids())
        assert held == [], f"ports still reserved by the inner session: {held}"
        ends = {int(line["session_end_pid"]): line["reserved"] for line in self.lines() if "session_end_pid" in line}
        assert set(ends) == self.session_pids(), "not every inner process finished its session"
        assert all(reserved == [] for reserved in ends.values()), f"reserved at the end of the session: {ends}"

    def record(self, test_suffix: str) -> dict[str, Any]:
        """The one record of the inner test whose node id ends with `test_suffix`."""
        found = [item for item in self.records() if str(item["test"]).endswith(test_suffix)]
        assert len(found) == 1, f"expected one record of {test_suffix}, got {found}"
        return found[0]


# -- processes ------------------------------------------------------------------------------------
def cmdline(pid: int) -> str | None:
    """The command line of a live process; None when it is gone or a zombie (empty cmdline)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace") or None


def processes_under(directory: Path) -> dict[int, str]:
    """Live processes (other than this one) whose command line names a path inside `directory`."""
    text = str(directory) + os.sep
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        line = cmdline(int(entry.name))
        if line is not None and text in line:
            found[int(entry.name)] = line
    return found


def wait_until_gone(pid: int, timeout: float) -> bool:
    """Poll until the process is gone (or a zombie); True if it went within the timeout."""
    deadline = time.monotonic() + timeout
    while cmdline(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop_pids(pids: Iterable[int], expected: str, timeout: float = 10.0) -> None:
    """SIGTERM processes that are not our children (all at once), then SIGKILL those that linger.
    A process is signalled only while its command line contains `expected`, so that a recycled
    pid is never touched."""
    remaining = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in remaining:
            line = cmdline(pid)
            if line is not None and expected in line:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        remaining = [pid for pid in remaining if not wait_until_gone(pid, deadline - time.monotonic())]
        if not remaining:
            return


def stop_processes_under(directory: Path) -> list[int]:
    """Safety net for a test's teardown: stop whatever still runs from the test's directory."""
    left = processes_under(directory)
    stop_pids(left, str(directory) + os.sep)
    return sorted(left)


# -- ports ----------------------------------------------------------------------------------------
def ephemeral_port() -> int:
    """A TCP port free on 127.0.0.1 right now, from the kernel's ephemeral range (for ports this
    process binds itself at once; nodes get `free_port`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def reservation_owner(port: int) -> Owner | None:
    try:
        return Owner.from_dict(json.loads((DEFAULT_REGISTRY / f"{port}.json").read_text()))
    except (FileNotFoundError, ValueError):
        return None


def reservations_held_by(pids: Iterable[int]) -> list[int]:
    """Ports of the registry reserved by any of these processes."""
    wanted = set(pids)
    held = []
    for path in DEFAULT_REGISTRY.glob("*.json"):
        if path.stem.isdigit():
            owner = reservation_owner(int(path.stem))
            if owner is not None and owner.pid in wanted:
                held.append(int(path.stem))
    return sorted(held)


# -- what a session leaves behind ----------------------------------------------------------------
def assert_nothing_left(base_dir: Path, records: Iterable[dict[str, Any]] = ()) -> None:
    """No process runs from base_dir, no cluster directory is left in it, and for every recorded
    cluster: its node processes are gone, its homes removed, its ports no longer reserved."""
    left = processes_under(base_dir)
    assert left == {}, f"processes left running: {left}"
    if base_dir.exists():
        entries = sorted(path.name for path in base_dir.iterdir())
        assert entries == [], f"left in {base_dir}: {entries}"
    for item in records:
        for pid in item["node_pids"]:
            line = cmdline(pid)
            assert line is None or str(base_dir) not in line, f"node process {pid} still runs: {line}"
        for home in item["homes"]:
            assert not Path(home).exists(), f"home {home} was not removed"
        for port in item["ports"]:
            owner = reservation_owner(port)
            assert owner is None or owner.pid != item["worker_pid"], f"port {port} is still reserved"


# -- fake merod programs ---------------------------------------------------------------------------
def write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


# the line of a fake merod (Python, with `os` and `sys` imported) that becomes the simulator
EXEC_SIMULATOR = f"os.execvp({SIM_COMMAND[0]!r}, {list(SIM_COMMAND)!r} + sys.argv[1:])"


def fake_merod(path: Path, code: str, *, instead_of: str = "run") -> Path:
    """A merod that is the simulator for everything (`--version`, `init`, `run`, `config`) except the
    subcommand `instead_of`, which executes `code` (Python, with `sys` and `time` imported) instead."""
    return write_executable(
        path,
        f"""#!{sys.executable}
import os
import sys
import time

if {instead_of!r} not in sys.argv[1:]:
    {EXEC_SIMULATOR}
{code}
""",
    )


def recording_merod(path: Path, calls: Path) -> Path:
    """A merod that notes each call's arguments in `calls`, then is the simulator."""
    return write_executable(
        path,
        f"""#!{sys.executable}
import os
import sys

with open({str(calls)!r}, "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\\n")
{EXEC_SIMULATOR}
""",
    )


KEPT_NODE_LINE = re.compile(r"^\s+([\w-]+): (http://\S+) pid=(\d+) home=(\S+)", flags=re.MULTILINE)


@dataclass
class KeptNode:
    name: str
    url: str
    pid: int
    home: Path


def kept_nodes(output: str) -> list[KeptNode]:
    """Every node the terminal summary says was left running."""
    return [
        KeptNode(match.group(1), match.group(2), int(match.group(3)), Path(match.group(4)))
        for match in KEPT_NODE_LINE.finditer(output)
    ]
