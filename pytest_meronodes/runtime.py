"""What a backend keeps of a running node (a NodeRuntime: a process, a container), and whether the
node can answer (Liveness), which its Node, its client and the start gates share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

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

    def end(self) -> None:
        """Teardown: end the node for good, the fastest way the backend has (its home is removed
        next; only its log is kept). Not a graceful stop: a hundred nodes stopping gracefully at
        once spend seconds reacting to each other's departure."""
        ...

    def start(self) -> None:
        """Run the node again after a stop or a kill: same home, identity, ports and address."""
        ...

    def kill(self, signum: int, grace: float = STOP_GRACE) -> None:
        """Send `signum` (SIGKILL: a crash); wait up to `grace` for the exit it causes."""
        ...

    def pause(self) -> None:
        """Freeze the node (SIGSTOP, `docker pause`): it keeps its connections but answers nothing."""
        ...

    def resume(self) -> None: ...

    def capture(self) -> None:
        """Keep the exit state and logs in memory before the backend removes the node."""
        ...

    def describe(self) -> str:
        """Where to find it by hand, for a cluster left running: `pid=...`, a container's name."""
        ...

    def reference(self) -> dict[str, Any]:
        """What another process needs to watch this node (handoff.py): a pid and its start time,
        a container's id; JSON-ready."""
        ...


class Liveness:
    """Why a node cannot answer, if it cannot: its process exited (with exit code and log), or a
    test stopped, killed or paused it on purpose. Its client asks this when a request fails, so
    that the error says "node exited (exit code 3)" rather than "connection refused"; a node a
    test took down on purpose does not fail that test."""

    def __init__(self, name: str, runtime: NodeRuntime | None) -> None:
        self.name = name
        self.runtime = runtime
        self.state = "running"  # or what a test did to it: "stopped", "killed", "paused"
        self.changed_by: str | None = None  # the test that did it
        self.how = ""  # e.g. "node.kill(SIGKILL)"

    @property
    def stopped_on_purpose(self) -> bool:
        return self.state in ("stopped", "killed")

    @property
    def stopped_by(self) -> str | None:
        return self.changed_by if self.stopped_on_purpose else None

    def mark(self, state: str, how: str) -> None:
        self.state = state
        self.how = how
        # "tests/test_x.py::test_y (call)": which test did it, for whoever calls the node later
        self.changed_by = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0] or None

    def mark_stopped(self) -> None:
        self.mark("stopped", "node.stop()")

    def mark_running(self) -> None:
        self.state, self.how, self.changed_by = "running", "", None

    def exit_note(self) -> str:
        return OOM_NOTE if self.runtime is not None and self.runtime.oom_killed() else ""

    def gone(self) -> NodeGoneError | None:
        if self.state != "running":
            by = f" by {self.changed_by}" if self.changed_by else ""
            verb = {"stopped": "was stopped", "killed": "was killed", "paused": "is paused"}[self.state]
            answers = "answers nothing until node.resume()" if self.state == "paused" else "no longer answers"
            return NodeGoneError(self.name, f"this node {verb} on purpose ({self.how}{by}) and {answers}",
                                 exit_code=self.runtime.exit_code() if self.runtime is not None else None)
        code = self.runtime.exit_code() if self.runtime is not None else None
        if code is None or self.runtime is None:
            return None
        reason = "node exited (killed: out of memory)" if self.runtime.oom_killed() else "node exited"
        return NodeGoneError(self.name, reason, exit_code=code, log_tail=self.runtime.log_tail(40))

    def check_alive(self) -> None:
        """Raise a NodeError (exit code, log tail) if the process exited, unless a test took the
        node down on purpose."""
        if self.state != "running":
            return
        gone = self.gone()
        if gone is not None:
            raise NodeError(gone.node, gone.reason, exit_code=gone.exit_code, log_tail=gone.log_tail)
