"""A merod process: started with its output in a log file, watched, and stopped by PID with
SIGTERM, a grace period and SIGKILL.

Nodes die with the pytest process that started them, whichever of its threads did: they hold
the read end of a pipe whose write end only this process holds (`merod run --exit-on-eof 0`,
where the release has it), and the parent-death signal, which the kernel ties to the *thread*
that forked, comes from one spawner thread that lives as long as the process."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...errors import FaultUnavailableError
from ...logs import log_tail
from ...ownership import process_start_time
from ...runtime import STOP_GRACE

PR_SET_PDEATHSIG = 1
SETPRIV = shutil.which("setpriv")  # util-linux


_process_lock = threading.Lock()
_lifeline: tuple[int, int, int] | None = None  # (pid, read end, write end) of this process's pipe
_spawner: tuple[int, ThreadPoolExecutor] | None = None


def lifeline_fd() -> int:
    """The read end of this process's lifeline pipe (created once per process, a fork too).
    The write end is never written and never inherited: it closes when this process exits, for
    whatever reason, and every node holding the read end sees EOF."""
    global _lifeline
    with _process_lock:
        if _lifeline is None or _lifeline[0] != os.getpid():
            read_end, write_end = os.pipe()  # both close-on-exec: no child inherits them by accident
            _lifeline = (os.getpid(), read_end, write_end)
        return _lifeline[1]


def _spawner_thread() -> ThreadPoolExecutor:
    """One thread that forks every node using the parent-death signal. Its worker lives until
    the interpreter exits, so the signal fires when pytest dies, not when a pool thread that
    started a cluster ends (asyncio.to_thread, a ThreadPoolExecutor in a test)."""
    global _spawner
    with _process_lock:
        if _spawner is None or _spawner[0] != os.getpid():
            _spawner = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="meronodes-spawner"))
        return _spawner[1]


def _popen(argv: Sequence[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), **options)


def _popen_from_spawner(argv: Sequence[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
    future = _spawner_thread().submit(_popen, argv, options)
    try:
        return future.result()
    except BaseException:
        # Ctrl-C while the spawner was starting it: what it started is stopped, never left behind
        with contextlib.suppress(BaseException):
            started = future.result(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(started.pid, signal.SIGKILL)
            started.wait()
        raise


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the thread that started us dies, so
    a node never outlives a pytest killed with SIGKILL (the next session reaps the rest)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeProcess:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        die_with_parent: bool = True,
        lifeline: bool = False,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        """`lifeline`: the program's stdin is this process's lifeline pipe (give merod
        `--exit-on-eof 0` with it); only with `die_with_parent`."""
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.die_with_parent = die_with_parent
        self.lifeline = lifeline and die_with_parent
        self._kept_logs = ""
        self._popen: subprocess.Popen[bytes] | None = None
        self.on_start = on_start  # told each new pid (the run record keeps them for reapers)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        argv, preexec = self.argv, None
        if self.die_with_parent and sys.platform == "linux":
            # setpriv sets the parent-death signal and execs the node: without a preexec_fn,
            # subprocess can vfork instead of copying pytest's whole address space (~8 ms a node)
            if SETPRIV is not None:
                argv = [SETPRIV, "--pdeathsig", "TERM", "--", *argv]
            else:
                preexec = _die_with_parent
        with open(self.log_path, "ab") as log:
            options: dict[str, Any] = {
                "stdin": lifeline_fd() if self.lifeline else subprocess.DEVNULL,
                "stdout": log,
                "stderr": subprocess.STDOUT,
                "env": self.env,
                # own process group: a Ctrl-C in the terminal reaches pytest, which stops the
                # nodes itself in order, instead of every node racing its own shutdown
                "start_new_session": True,
                "preexec_fn": preexec,
            }
            if self.die_with_parent:
                self._popen = _popen_from_spawner(argv, options)
            else:
                self._popen = _popen(argv, options)
        if self.on_start is not None:
            self.on_start(self._popen.pid)

    def logs(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return self._kept_logs  # the home is gone; what capture_logs() saved

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path.is_file():
            return log_tail(self.log_path, lines)
        return "\n".join(self._kept_logs.splitlines()[-lines:])

    def capture(self) -> None:
        """Keep the log's tail in memory before the directory holding it is removed, so a test
        that stopped its cluster still gets the log in its report."""
        self._kept_logs = log_tail(self.log_path, 200)

    def oom_killed(self) -> bool:
        return False  # no memory cap on a native process: the kernel's OOM killer is not ours to report

    def describe(self) -> str:
        return f"pid={self.pid} log={self.log_path}"

    def upload(self, local_path: Path) -> str:
        return str(local_path.resolve())  # the node shares our file system

    def reference(self) -> dict[str, Any]:
        pid = self.pid
        return {"kind": "process", "pid": pid, "started": process_start_time(pid) if pid else None,
                "log_path": str(self.log_path)}

    def exit_code(self) -> int | None:
        """None while running."""
        return self._popen.poll() if self._popen else None

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def _signal_group(self, sig: int) -> None:
        """Signal the process's group, not just the process: it leads its own session, and a merod
        that is a wrapper script (no `exec`) would otherwise die alone and leave the real merod
        running with its ports and home."""
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def _group_alive(self) -> bool:
        assert self._popen is not None
        try:
            os.killpg(self._popen.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def terminate(self) -> None:
        if self._popen is not None:  # also when the process exited but left its group running
            self._signal_group(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> int | None:
        """Wait until the deadline (time.monotonic), then SIGKILL; returns the exit code. What the
        process left in its group gets the rest of the grace period, then SIGKILL too."""
        if self._popen is None:
            return None
        try:
            code = self._popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            return self._popen.wait()
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._group_alive():
            self._signal_group(signal.SIGKILL)
        return code

    def stop(self, grace: float = STOP_GRACE) -> None:
        if self._popen is not None:
            self._signal_group(signal.SIGCONT)  # a paused process would hold SIGTERM until resumed
        self.terminate()
        self.wait_or_kill(time.monotonic() + grace)

    def end(self) -> None:
        """SIGKILL to the process's group, and wait: the kernel closes its sockets, and no node
        spends CPU on a shutdown (or on its peers' shutdowns) that nobody will look at."""
        if self._popen is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()
        self._popen.wait()
        while self._group_alive():  # what the group still holds dies with the same signal
            self._signal_group(signal.SIGKILL)
            time.sleep(0.01)

    def kill(self, signum: int, grace: float = STOP_GRACE) -> None:
        if self._popen is None:
            return
        self._signal_group(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=grace)

    def pause(self) -> None:
        if self._popen is not None:
            self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        if self._popen is not None:
            self._signal_group(signal.SIGCONT)


UNKNOWN_EXIT = -1  # a process another one started has exited: only its parent could know the code


class ForeignProcess:
    """A node process another pytest process started (a cluster shared by xdist workers, or kept
    for reuse by an earlier session): watched by pid and start time, its log read from its file.
    It is not this process's to stop or fault: the one that started it (or the reaper) does."""

    def __init__(self, pid: int, started: str, log_path: Path) -> None:
        self.pid = pid
        self.started = started
        self.log_path = log_path

    def _refuse(self) -> FaultUnavailableError:
        return FaultUnavailableError(f"pid {self.pid} was started by another pytest process: it is not this one's "
                                     f"to stop, start or fault")

    def exit_code(self) -> int | None:
        """None while it runs; UNKNOWN_EXIT once it is gone (the code went to its parent)."""
        return None if process_start_time(self.pid) == self.started else UNKNOWN_EXIT

    def oom_killed(self) -> bool:
        return False

    def logs(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int) -> str:
        return log_tail(self.log_path, lines) if self.log_path.is_file() else ""

    def upload(self, local_path: Path) -> str:
        return str(local_path.resolve())

    def stop(self, grace: float = STOP_GRACE) -> None:
        raise self._refuse()

    def end(self) -> None:
        raise self._refuse()

    def start(self) -> None:
        raise self._refuse()

    def kill(self, signum: int, grace: float = STOP_GRACE) -> None:
        raise self._refuse()

    def pause(self) -> None:
        raise self._refuse()

    def resume(self) -> None:
        raise self._refuse()

    def capture(self) -> None:
        """Nothing to keep: the log stays in its file until the cluster is removed."""

    def describe(self) -> str:
        return f"pid={self.pid} log={self.log_path}"

    def reference(self) -> dict[str, Any]:
        return {"kind": "process", "pid": self.pid, "started": self.started, "log_path": str(self.log_path)}
