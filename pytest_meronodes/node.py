"""A node of a cluster, as tests hold it: where it answers, its authenticated client, its logs,
and whether it still runs."""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import NodeClient
from .errors import FaultUnavailableError, LogTimeoutError
from .logs import log_tail, without_colours
from .polling import Waiting, poll_until
from .runtime import Liveness, NodeRuntime

if TYPE_CHECKING:
    from .control import ClusterControl
    from .errors import NodeGoneError


@dataclass
class Node:
    name: str
    url: str
    rpc_port: int | None
    swarm_port: int | None
    peer_id: str | None
    multiaddr: str | None
    home: Path | None
    log_path: Path | None
    client: NodeClient
    # shared with the client, which asks it why a request failed: made before both (start.py)
    liveness: Liveness = field(repr=False)
    runtime: NodeRuntime | None = field(default=None, repr=False)
    # fault injection, shared by the cluster's nodes (None for nodes pytest-meronodes did not start)
    control: ClusterControl | None = field(default=None, repr=False, compare=False)
    # why there is no control, when the node is someone else's: remote, or shared with other
    # pytest processes (another worker's, or kept for reuse by an earlier session)
    uncontrolled: str = field(default="it runs elsewhere (remote backend)", repr=False, compare=False)

    @property
    def stopped(self) -> bool:
        """Stopped on purpose by a test (node.stop())."""
        return self.liveness.stopped_on_purpose

    @property
    def stopped_by(self) -> str | None:
        return self.liveness.stopped_by

    def _control(self) -> ClusterControl:
        if self.control is None:
            raise FaultUnavailableError(f"{self.name} cannot be stopped, started or faulted: {self.uncontrolled}")
        return self.control

    def stop(self) -> None:
        """Stop this node on purpose (a test of how the others cope): it then no longer counts as
        crashed. It keeps its home, identity and ports for start(); teardown still removes it."""
        if self.control is None and self.runtime is None:  # remote: only marked, so it fails no test
            self.liveness.mark_stopped()
            return
        self._control().stop(self)

    def start(self) -> None:
        """Run a stopped or killed node again, with its home, identity and ports; returns once it
        answers health (and ready), has its token, and sees the peers it can reach."""
        self._control().start(self)

    def restart(self) -> None:
        """stop(), then start()."""
        self._control().restart(self)

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """A crash on purpose (SIGKILL by default): the test is not failed for it, and exit_code()
        says how it ended. start() brings it back."""
        self._control().kill(self, signum)

    def pause(self) -> None:
        """Freeze the node (SIGSTOP; `docker pause`): it answers nothing, and its peers drop it."""
        self._control().pause(self)

    def resume(self) -> None:
        """Thaw a paused node; returns once it passes the start gates again, the mesh included."""
        self._control().resume(self)

    def disconnect(self) -> None:
        """Cut the node off every other node's swarm traffic (Docker backend); its API still answers."""
        self._control().disconnect(self)

    def reconnect(self) -> None:
        """Undo disconnect() (and any cut to this node); returns once it sees its peers again."""
        self._control().reconnect(self)

    def slow_down(self, *, delay_ms: int = 0, jitter_ms: int = 0, loss_percent: float = 0.0) -> None:
        """Delay (netem) and drop a share of the node's swarm traffic (Docker backend), until restore()."""
        self._control().slow_down(self, delay_ms=delay_ms, jitter_ms=jitter_ms, loss_percent=loss_percent)

    def restore(self) -> None:
        """Undo slow_down()."""
        self._control().restore(self)

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """The first line of the node's log that matches `pattern` (a regular expression, searched
        in each line), waiting up to `timeout` seconds for it to appear."""
        regex = re.compile(pattern)

        def matching_line() -> str | Waiting:
            for line in self.logs().splitlines():
                if regex.search(line):
                    return line
            return Waiting("no matching line")

        def not_logged(_: str) -> LogTimeoutError:
            return LogTimeoutError(self.name, f"no log line matched {regex.pattern!r} within {timeout:g} s",
                                   log_tail=self.log_tail())

        return poll_until(matching_line, deadline=time.monotonic() + timeout, timed_out=not_logged,
                          min_interval=0.05)

    def logs(self) -> str:
        """Everything the node printed so far, without ANSI colours."""
        return without_colours(self.runtime.logs()) if self.runtime is not None else ""

    def log_tail(self, lines: int = 40) -> str:
        if self.runtime is not None:
            return without_colours(self.runtime.log_tail(lines))
        return log_tail(self.log_path, lines)

    def install_dev_application(self, path: str | Path, metadata: list[Any] | None = None) -> str:
        """Install a local application file on the node (copied into its container when it has
        one); return the application id."""
        node_path = self.runtime.upload(Path(path)) if self.runtime is not None else str(path)
        return self.client.install_dev_application(node_path, metadata)

    def exit_code(self) -> int | None:
        """None while the node runs (or when it is not ours to watch)."""
        return self.runtime.exit_code() if self.runtime is not None else None

    def exit_note(self) -> str:
        return self.liveness.exit_note()

    def gone(self) -> NodeGoneError | None:
        """Why the node cannot answer, if its process exited or it was stopped on purpose."""
        return self.liveness.gone()

    def check_alive(self) -> None:
        """Raise a NodeError (with exit code and log tail) if the node's process has exited,
        unless the node was stopped on purpose."""
        self.liveness.check_alive()
