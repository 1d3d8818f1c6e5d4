"""What a backend keeps of a running node (a NodeRuntime: a process, a container), and whether the
node can answer (Liveness), which its Node, its client and the start gates share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from .errors import NodeError, NodeGoneError

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL, for nodes and the proxies in front of them
OOM_NOTE = "; killed: out of memory (raise --node-memory)"


class NodeRuntime(Protocol):
    """A node's process or container, as every backend keeps it."""

    def exit_code(self) -> int | None:
        """None while the node runs."""
        ...

    def oom_killed(self) -> bool:
        """Whether the node was killed for want of memory (False where that cannot happen)."""
        ...

    def logs(self) -> str:
        """Everything the node printed so far (kept in memory once the node is removed)."""
        ...

    def log_tail(self, lines: int) -> str:
        """The last lines only: a failed test's report must not fetch a whole log."""
        ...

    def upload(self, local_path: Path) -> str:
        """Make a local file readable by the node; return its path there."""
        ...

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, `grace` seconds, SIGKILL; the node's home and identity stay."""
        ...

    def capture(self) -> None:
        """Keep the exit state and logs in memory before the backend removes the node."""
        ...

    def describe(self) -> str:
        """Where to find it by hand, for a cluster left running: `pid=...`, a container's name."""
        ...


class Liveness:
    """Why a node cannot answer, if it cannot: its process exited (with exit code and log), or a
    test stopped it on purpose. Its client asks this when a request fails, so that the error says
    "node exited (exit code 3)" rather than "connection refused"."""

    def __init__(self, name: str, runtime: NodeRuntime | None) -> None:
        self.name = name
        self.runtime = runtime
        self.stopped_on_purpose = False
        self.stopped_by: str | None = None  # the test that called node.stop()

    def mark_stopped(self) -> None:
        self.stopped_on_purpose = True
        # "tests/test_x.py::test_y (call)": which test did it, for whoever calls the node later
        self.stopped_by = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0] or None

    def exit_note(self) -> str:
        return OOM_NOTE if self.runtime is not None and self.runtime.oom_killed() else ""

    def gone(self) -> NodeGoneError | None:
        if self.stopped_on_purpose:
            by = f" by {self.stopped_by}" if self.stopped_by else ""
            return NodeGoneError(self.name, f"this node was stopped on purpose (node.stop(){by}) and no longer answers")
        code = self.runtime.exit_code() if self.runtime is not None else None
        if code is None or self.runtime is None:
            return None
        reason = "node exited (killed: out of memory)" if self.runtime.oom_killed() else "node exited"
        return NodeGoneError(self.name, reason, exit_code=code, log_tail=self.runtime.log_tail(40))

    def check_alive(self) -> None:
        """Raise a NodeError (exit code, log tail) if the process exited, unless stopped on purpose."""
        if self.stopped_on_purpose:
            return
        gone = self.gone()
        if gone is not None:
            raise NodeError(gone.node, gone.reason, exit_code=gone.exit_code, log_tail=gone.log_tail)
