"""Start gates: process alive, health 200, ready 200 (where the version has it), auth."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from .errors import (
    NodeAuthError,
    NodeError,
    NodeGoneError,
    NodeRequestError,
    NodeStartError,
    NodeTimeoutError,
    NodeUnreachableError,
)

if TYPE_CHECKING:
    from .cluster import Node


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
            except NodeUnreachableError:
                last = "no connection"  # nothing listens yet
            except NodeTimeoutError:
                last = "no answer in time"
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
                    f"{path} gate: not 200 within the startup timeout of {timeout:g} s (last answer: {last})\n"
                    + startup_timeout_hint("the node", "the node's log says why it does not answer 200"),
                    log_tail=node.log_tail(),
                )
            time.sleep(poll_interval(attempt))
            attempt += 1


def startup_timeout_hint(what: str, otherwise: str) -> str:
    return (
        "raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) if "
        f"{what} is only slow; otherwise {otherwise}"
    )


def init_timeout_error(name: str, timeout: float) -> NodeStartError:
    """`merod init` outlived the startup timeout (which counts from before init)."""
    return NodeStartError(
        name, f"merod init did not finish within the startup timeout of {timeout:g} s\n"
        f"{startup_timeout_hint('init', 'run merod init by hand with the same flags to see where it hangs')}"
    )


def authenticate(node: Node) -> None:
    """Obtain the node's token now, so a credentials problem is a start error, not a test's."""
    try:
        _ = node.client.token
    except NodeAuthError as error:
        raise NodeAuthError(node.name, f"auth gate: {error.reason}", log_tail=node.log_tail()) from None


def poll_interval(attempt: int) -> float:
    """Fast first polls (a node answers within ~0.1 s), then gentler ones: 10, 12, 16, 20 ms..."""
    return min(0.01 * (1.25**attempt), 0.25)


def all_tails(nodes: list[Node], first: str | None = None, lines: int = 20) -> str:
    """Every node's log tail, the named node's first: a start failure shows the whole cluster."""
    ordered = sorted(nodes, key=lambda node: node.name != first)
    return "\n".join(f"--- last lines of {node.name}'s log ---\n{node.log_tail(lines)}" for node in ordered)


def wait_for_mesh(nodes: list[Node], *, timeout: float, min_peers: int | None = None) -> None:
    """Until every node sees at least `min_peers` (default: all others) peers, asked with its
    token (a 401 raises NodeAuthError: an auth problem is never "0 peers"). Fails at once when a
    node exits."""
    wanted = len(nodes) - 1 if min_peers is None else min_peers
    if wanted <= 0:
        return
    deadline = time.monotonic() + timeout
    seen: dict[str, int | str] = {}
    attempt = 0
    while True:
        for node in nodes:
            if isinstance(seen.get(node.name), int) and int(seen[node.name]) >= wanted:
                continue
            try:
                node.check_alive()
                budget = max(1.0, min(2.0, deadline - time.monotonic()))
                seen[node.name] = node.client.peers_count(timeout=budget)
            except NodeAuthError:
                raise
            except (NodeGoneError, NodeRequestError, requests.RequestException, ValueError) as error:
                if isinstance(error, NodeGoneError):
                    raise NodeStartError(error.node, f"mesh gate: {error.reason}", exit_code=error.exit_code,
                                         log_tail=all_tails(nodes, error.node)) from None
                # slow, garbled, or a connection dropped by a node whose exit is not visible yet:
                # ask again (the next round's check_alive sees the exit); a count seen before stays
                # what the message reports
                seen.setdefault(node.name, "no answer" if isinstance(error, NodeRequestError) else type(error).__name__)
            except NodeError as error:
                raise NodeStartError(error.node, f"mesh gate: {error.reason}", exit_code=error.exit_code,
                                     log_tail=all_tails(nodes, error.node)) from None
        if all(isinstance(seen.get(n.name), int) and int(seen[n.name]) >= wanted for n in nodes):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(poll_interval(attempt))
        attempt += 1
    counts = ", ".join(f"{name}={count}" for name, count in sorted(seen.items()))
    first = next(n.name for n in nodes if not (isinstance(seen.get(n.name), int) and int(seen[n.name]) >= wanted))
    raise NodeStartError(
        first,
        f"mesh gate: expected every node to see >= {wanted} peers within {timeout:.1f} s; "
        f"peer counts seen: {counts}; the logs below say whom each node dialled",
        log_tail=all_tails(nodes, first),
    )


def start_gates(nodes: list[Node], *, deadline: float, timeout: float, check_ready: bool, auth: bool) -> None:
    """Every gate a starting cluster passes, in order: each node alive and answering health (and
    ready), then authenticated, then the mesh. A failure carries every node's log tail."""
    from .parallel import run_parallel

    try:
        run_parallel(
            lambda node: wait_until_ready(node, deadline=deadline, timeout=timeout, check_ready=check_ready), nodes
        )
        if auth:
            run_parallel(authenticate, nodes)
    except (NodeStartError, NodeAuthError) as error:
        raise type(error)(error.node, error.reason, exit_code=error.exit_code,
                          log_tail=all_tails(nodes, error.node)) from None
    wait_for_mesh(nodes, timeout=max(0.1, deadline - time.monotonic()))


def wait_for_proxy(
    *, url: str, host: str, deadline: float, name: str, check_alive: Callable[[], None], logs: Callable[[], str]
) -> None:
    """Until the auth service answers through Traefik (which learns its routes asynchronously);
    `check_alive` raises NodeStartError at once if Traefik or the auth service exited."""
    attempt = 0
    last = "no answer"
    while True:
        check_alive()
        try:
            response = requests.get(f"{url}/auth/health", headers={"Host": host}, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        if time.monotonic() > deadline:
            raise NodeStartError(name, f"proxy gate: /auth/health through Traefik not 200 ({last})", log_tail=logs())
        time.sleep(poll_interval(attempt))
        attempt += 1
