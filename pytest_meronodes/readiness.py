"""Start gates: process alive, health 200, ready 200 (where the version has it), auth."""

from __future__ import annotations

import time

import requests

from .cluster import Node, poll_interval
from .errors import NodeAuthError, NodeError, NodeStartError


def _oom_note(node: Node) -> str:
    oom = getattr(node.runtime, "oom_killed", None)
    return "; killed: out of memory (raise --node-memory)" if callable(oom) and oom() else ""


def wait_until_ready(node: Node, *, deadline: float, timeout: float, check_ready: bool) -> None:
    """Poll health (then ready) until 200; fail at once if the node's process exits."""
    gates = ["/admin-api/health"] + (["/admin-api/ready"] if check_ready else [])
    last = "no answer yet"
    for path in gates:
        attempt = 0
        while True:
            code = node.exit_code()
            if code is not None:
                raise NodeStartError(
                    node.name, f"process exited during start ({path} gate){_oom_note(node)}", exit_code=code,
                    log_tail=node.log_tail(),
                )
            try:
                response = node.client.get_public(path, timeout=2.0)
                if response.status_code == 200:
                    break
                last = f"HTTP {response.status_code} {response.text[:100]}"
            except requests.RequestException as error:
                last = type(error).__name__
            except NodeAuthError:
                raise
            except NodeError as error:  # the process exited between the check above and the request
                raise NodeStartError(
                    node.name, f"process exited during start ({path} gate){_oom_note(node)}", exit_code=error.exit_code,
                    log_tail=error.log_tail,
                ) from None
            if time.monotonic() > deadline:
                raise NodeStartError(
                    node.name,
                    f"{path} gate: not 200 within the startup timeout of {timeout:g} s "
                    f"(last answer: {last})\n"
                    f"raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) "
                    f"if the node is only slow; otherwise the node's log says why it does not answer 200",
                    log_tail=node.log_tail(),
                )
            time.sleep(poll_interval(attempt))
            attempt += 1


def authenticate(node: Node) -> None:
    """Obtain the node's token now, so a credentials problem is a start error, not a test's."""
    try:
        _ = node.client.token
    except NodeAuthError as error:
        raise NodeAuthError(node.name, f"auth gate: {error.reason}", log_tail=node.log_tail()) from None
