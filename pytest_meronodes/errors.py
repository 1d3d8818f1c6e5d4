"""Typed errors. Node errors carry the node's name, its exit code and the tail of its log."""

from __future__ import annotations

from typing import Any

import requests

from .redact import redact


class MeronodesError(Exception):
    """Base of every error pytest-meronodes raises. Its text never shows a token or password:
    neither its str nor its args (what its repr, and `pytest -l`, show)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigurationError(MeronodesError):
    """An option, marker argument or custom config the user must fix."""


class FaultUnavailableError(ConfigurationError):
    """A fault this backend or machine cannot inject (a partition of native nodes, delay on a
    kernel without netem, iptables without root); the message says what would make it work."""


class PortsUnavailableError(MeronodesError):
    """The configured port range has no room for the requested nodes."""


# How each start gate is named in a message, before what happened there ("" where the reason says it).
GATE_PREFIXES = {
    "init": "",
    "start": "",
    "health": "/admin-api/health gate: ",
    "ready": "/admin-api/ready gate: ",
    "auth": "auth gate: ",
    "proxy": "proxy gate: ",
    "mesh": "mesh gate: ",
}


class NodeError(MeronodesError):
    """Something went wrong with one node. `gate` names the start gate that failed (one of
    GATE_PREFIXES), None outside a start; `reason` says what happened, without the gate."""

    def __init__(
        self,
        node: str,
        message: str,
        *,
        gate: str | None = None,
        exit_code: int | None = None,
        log_tail: str = "",
        gate_in_reason: bool = False,
    ) -> None:
        self.node = node
        self.reason = redact(message)
        self.gate = gate
        self.exit_code = exit_code
        self.log_tail = redact(log_tail)
        self.gate_in_reason = gate_in_reason  # "process exited during start (... gate)" names it itself
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = ""
        if self.gate and not self.gate_in_reason:
            prefix = GATE_PREFIXES.get(self.gate, f"{self.gate} gate: ")
        text = f"node {self.node!r}: {prefix}{self.reason}"
        if self.exit_code is not None:
            text += f" (exit code {self.exit_code})"
        if self.log_tail:
            heading = "" if self.log_tail.startswith("--- ") else f"--- last lines of {self.node}'s log ---\n"
            text += f"\n{heading}{self.log_tail.rstrip()}"
        return redact(text)


class NodeStartError(NodeError):
    """A node did not pass a start gate: init, process alive, health, ready, auth or mesh."""


class ProxyStartError(MeronodesError):
    """The proxy in front of a cluster (Traefik, or the auth service behind it) did not come up:
    `component` names which, with its exit code and log tail; `gate` is always "proxy"."""

    gate = "proxy"

    def __init__(self, component: str, message: str, *, exit_code: int | None = None, log_tail: str = "") -> None:
        self.component = component
        self.reason = message
        self.exit_code = exit_code
        self.log_tail = log_tail
        text = f"{component}: {GATE_PREFIXES['proxy']}{message}"
        if exit_code is not None:
            text += f" (exit code {exit_code})"
        if log_tail:
            text += f"\n--- last lines of {component}'s log ---\n{log_tail.rstrip()}"
        super().__init__(redact(text))


class NodeAuthError(NodeError):
    """The node refused our credentials or token (never mistaken for '0 peers')."""


class NodeRequestError(NodeError, requests.RequestException):
    """A request to a node failed below HTTP. It is also the `requests` exception it replaces, so
    code that catches those keeps working; its message names the node and the call, alone."""


class NodeUnreachableError(NodeRequestError, requests.ConnectionError):
    """The node refused or dropped the connection."""


class NodeGoneError(NodeUnreachableError):
    """The node cannot answer because its process exited, or a test stopped it with node.stop();
    the message says which, with the exit code and the node's log."""


class NodeTimeoutError(NodeRequestError, requests.Timeout):
    """The node did not answer in time."""


class NodeApiError(NodeError):
    """An admin API call answered with an unexpected status."""

    def __init__(self, node: str, message: str, *, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(node, f"{message}: HTTP {status} {body[:500]}")


class RpcError(MeronodesError):
    """A JSON-RPC call answered with an error envelope."""

    def __init__(self, node: str, method: str, error: dict[str, Any], *, hint: str = "") -> None:
        self.node = node
        self.method = method
        self.type = str(error.get("type"))
        self.data = error.get("data")
        text = f"node {node!r}: {method} failed with {self.type}"
        text += f": {self.data!r}" if "data" in error else ""
        super().__init__(redact(text + (f"; {hint}" if hint else "")))


class ContextNotReadyError(RpcError):
    """The node is a member of the context but cannot run calls on it yet: merod answers
    `Uninitialized` until the node's first sync (and `GroupKeyPending` until its group key
    arrives). Not an application error: wait, and the same call succeeds."""


class LogTimeoutError(NodeError):
    """node.wait_for_log() saw no matching line in time; the log tail shows what the node said."""


class SyncTimeoutError(MeronodesError):
    """A sync barrier ran out of time; the message names each member's state."""
