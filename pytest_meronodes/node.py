"""A node of a cluster, as tests hold it: where it answers, its authenticated client, its logs,
and whether it still runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import NodeClient
from .logs import log_tail, without_colours
from .runtime import Liveness, NodeRuntime

if TYPE_CHECKING:
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

    @property
    def stopped(self) -> bool:
        """Stopped on purpose by a test (node.stop())."""
        return self.liveness.stopped_on_purpose

    @property
    def stopped_by(self) -> str | None:
        return self.liveness.stopped_by

    def stop(self) -> None:
        """Stop this node on purpose (a test of how the others cope): it then no longer counts as
        crashed. Its cluster's teardown still cleans up after it."""
        self.liveness.mark_stopped()
        if self.runtime is not None:
            self.runtime.stop()

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
