"""A merod process: started with its output in a log file, watched, and stopped by PID with
SIGTERM, a grace period and SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DEFAULT_GRACE = 5.0
PR_SET_PDEATHSIG = 1
SETPRIV = shutil.which("setpriv")  # util-linux


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a log, without ANSI colours."""
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
    return "\n".join(ANSI.sub("", text).splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the thread that started us dies, so
    a node never outlives a pytest killed with SIGKILL (the next session reaps the rest)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeProcess:
    def __init__(
        self, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str], die_with_parent: bool = True
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.die_with_parent = die_with_parent
        self._kept_logs = ""
        self._popen: subprocess.Popen[bytes] | None = None

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
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                # own process group: a Ctrl-C in the terminal reaches pytest, which stops the
                # nodes itself in order, instead of every node racing its own shutdown
                start_new_session=True,
                preexec_fn=preexec,
            )

    def logs(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return self._kept_logs  # the home is gone; what capture_logs() saved

    def capture_logs(self) -> None:
        """Keep the log's tail in memory before the directory holding it is removed, so a test
        that stopped its cluster still gets the log in its report."""
        self._kept_logs = log_tail(self.log_path, 200)

    def upload(self, local_path: Path) -> str:
        return str(local_path.resolve())  # the node shares our file system

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

    def stop(self, grace: float = DEFAULT_GRACE) -> None:
        self.terminate()
        self.wait_or_kill(time.monotonic() + grace)
