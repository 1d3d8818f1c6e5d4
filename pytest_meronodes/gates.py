"""Start gates, in the order a starting node passes them: process alive, health 200, ready 200
(where the release has it), auth (a token obtained), and the mesh (every node sees its peers);
and the proxy gate for a Traefik in front. Each is a poll_until; a failure is a typed error whose
`gate` field names the gate.

Gates see nodes through GateTarget alone, so they import neither the cluster nor a backend."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import requests

from .client import NodeClient
from .errors import NodeAuthError, NodeError, NodeGoneError, NodeRequestError, NodeStartError, ProxyStartError
from .parallel import run_parallel
from .polling import Waiting, describe_failure, poll_until

HEALTH_PATH = "/admin-api/health"
# Requests in flight at once during the gates: enough to keep up with nodes coming up, few enough
# that a 100-node start is not a hundred threads polling nodes that are still busy starting.
GATE_WORKERS = 8
MESH_ASKERS = 8
READY_PATH = "/admin-api/ready"


class GateTarget(Protocol):
    """What a gate needs of a node (a cluster.Node is one)."""

    @property
    def name(self) -> str: ...

    @property
    def client(self) -> NodeClient: ...

    def exit_code(self) -> int | None: ...

    def exit_note(self) -> str:
        """Why the process ended, if the runtime knows more than its exit code ("" otherwise)."""
        ...

    def check_alive(self) -> None: ...

    def log_tail(self, lines: int = 40) -> str: ...


class ProxyTarget(Protocol):
    """What the proxy gate needs of a proxy in front of a cluster."""

    @property
    def name(self) -> str:
        """Its Traefik's name in messages (meronodes-<cluster>-traefik)."""
        ...

    @property
    def url(self) -> str: ...

    def check_alive(self) -> None:
        """Raise ProxyStartError if Traefik or the auth service has exited."""
        ...

    def log_tail(self) -> str: ...


def startup_timeout_hint(what: str, otherwise: str) -> str:
    return (
        "raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) if "
        f"{what} is only slow; otherwise {otherwise}"
    )


def init_timeout_error(name: str, timeout: float) -> NodeStartError:
    """`merod init` outlived the startup timeout (which counts from before init)."""
    return NodeStartError(
        name, f"merod init did not finish within the startup timeout of {timeout:g} s\n"
        f"{startup_timeout_hint('init', 'run merod init by hand with the same flags to see where it hangs')}",
        gate="init",
    )


def _exited(node: GateTarget, gate: str, path: str, code: int | None) -> NodeStartError:
    return NodeStartError(node.name, f"process exited during start ({path} gate){node.exit_note()}", gate=gate,
                          exit_code=code, log_tail=node.log_tail(), gate_in_reason=True)


def wait_until_ready(
    node: GateTarget, *, deadline: float, timeout: float, check_ready: bool, give_up: Callable[[], bool] | None = None
) -> None:
    """Health (then ready) until 200; fail at once if the node's process exits (polling.Abandoned
    once `give_up()` says so)."""
    gates = [("health", HEALTH_PATH)] + ([("ready", READY_PATH)] if check_ready else [])
    for gate, path in gates:

        def answered_200(gate: str = gate, path: str = path) -> bool | Waiting:
            code = node.exit_code()
            if code is not None:
                raise _exited(node, gate, path, code)
            try:
                response = node.client.get_public(path, timeout=2.0)
            except NodeAuthError:
                raise
            except NodeError as error:
                if isinstance(error, NodeRequestError) and not isinstance(error, NodeGoneError):
                    raise  # transient: nothing listens yet, or a slow answer
                raise _exited(node, gate, path, error.exit_code) from None
            if response.status_code == 200:
                return True
            return Waiting(f"HTTP {response.status_code} {response.text[:100]}")

        def not_200(last: str, gate: str = gate) -> NodeStartError:
            return NodeStartError(
                node.name,
                f"not 200 within the startup timeout of {timeout:g} s (last answer: {last})\n"
                + startup_timeout_hint("the node", "the node's log says why it does not answer 200"),
                gate=gate, log_tail=node.log_tail(),
            )

        poll_until(answered_200, deadline=deadline, timed_out=not_200, transient=(requests.RequestException,),
                   give_up=give_up)


def authenticate(node: GateTarget) -> None:
    """Obtain the node's token now, so a credentials problem is a start error, not a test's."""
    try:
        _ = node.client.token
    except NodeAuthError as error:
        raise NodeAuthError(node.name, error.reason, gate="auth", log_tail=node.log_tail()) from None


def all_tails(nodes: Sequence[GateTarget], first: str | None = None, lines: int = 20) -> str:
    """Every node's log tail, the named node's first: a start failure shows the whole cluster."""
    ordered = sorted(nodes, key=lambda node: node.name != first)
    return "\n".join(f"--- last lines of {node.name}'s log ---\n{node.log_tail(lines)}" for node in ordered)


def with_all_tails(error: NodeStartError | NodeAuthError, nodes: Sequence[GateTarget]) -> NodeError:
    """The same error, carrying every node's log tail (the failing node's first)."""
    return type(error)(error.node, error.reason, gate=error.gate, exit_code=error.exit_code,
                       log_tail=all_tails(nodes, error.node), gate_in_reason=error.gate_in_reason)


def wait_for_mesh(
    nodes: Sequence[GateTarget], *, deadline: float, min_peers: int | None = None,
    wanted: Mapping[str, int] | None = None, topology: str = "",
) -> None:
    """Until every node sees at least its wanted number of peers (`wanted[name]`, else
    `min_peers`, else all others), asked with its token (a 401 raises NodeAuthError: an auth
    problem is never "0 peers"). Fails at once when a node exits."""
    default = len(nodes) - 1 if min_peers is None else min_peers
    want = {node.name: (wanted or {}).get(node.name, default) for node in nodes}
    if all(count <= 0 for count in want.values()):
        return
    seen: dict[str, int | str] = {}

    def meshed(name: str) -> bool:
        count = seen.get(name)
        return isinstance(count, int) and count >= want[name]

    def ask(node: GateTarget) -> None:
        try:
            node.check_alive()
            seen[node.name] = node.client.peers_count(timeout=max(1.0, min(2.0, deadline - time.monotonic())))
        except NodeAuthError:
            raise
        except NodeGoneError as error:
            raise NodeStartError(error.node, error.reason, gate="mesh", exit_code=error.exit_code,
                                 log_tail=all_tails(nodes, error.node)) from None
        except (requests.RequestException, ValueError) as error:
            # slow, garbled, or a connection dropped by a node whose exit is not visible yet:
            # ask again (the next round's check_alive sees the exit); a count seen before stays
            # what the message reports
            seen.setdefault(node.name, "no answer" if isinstance(error, NodeRequestError)
                            else describe_failure(error))
        except NodeError as error:
            raise NodeStartError(error.node, error.reason, gate="mesh", exit_code=error.exit_code,
                                 log_tail=all_tails(nodes, error.node)) from None

    def round_of_asking() -> bool | Waiting:
        # a few requests at a time: a round over 100 nodes stays short, and never floods them
        run_parallel(ask, [node for node in nodes if not meshed(node.name)], limit=MESH_ASKERS)
        return True if all(meshed(node.name) for node in nodes) else Waiting("")

    def not_meshed(_: str) -> NodeStartError:
        short = [node.name for node in nodes if not meshed(node.name)]
        counts = ", ".join(f"{name}={seen.get(name, 'not asked')} (wanted {want[name]})" for name in short)
        wiring = f" ({topology} topology)" if topology else ""
        return NodeStartError(
            short[0],
            f"{len(short)} of {len(nodes)} node(s) did not see their wired peers{wiring} within "
            f"{deadline - started:.1f} s; peers seen: {counts}; the logs below say whom each node dialled",
            gate="mesh", log_tail=all_tails(nodes, short[0]),
        )

    started = time.monotonic()
    poll_until(round_of_asking, deadline=deadline, timed_out=not_meshed)


def start_gates(
    nodes: Sequence[GateTarget], *, deadline: float, timeout: float, check_ready: bool, auth: bool,
    wanted: Mapping[str, int] | None = None, topology: str = "",
) -> None:
    """Every gate a starting cluster passes, in order: each node alive and answering health (and
    ready), then authenticated, then the mesh (each node sees `wanted[name]` peers, default all
    others). A failure carries every node's log tail."""
    try:
        run_parallel(lambda node: wait_until_ready(node, deadline=deadline, timeout=timeout, check_ready=check_ready),
                     list(nodes), limit=GATE_WORKERS, fail_fast=True)
        if auth:
            run_parallel(authenticate, list(nodes), limit=GATE_WORKERS, fail_fast=True)
    except (NodeStartError, NodeAuthError) as error:
        raise with_all_tails(error, nodes) from None
    wait_for_mesh(nodes, deadline=max(deadline, time.monotonic() + 0.1), wanted=wanted, topology=topology)


def wait_for_proxy(proxy: ProxyTarget, *, host: str, deadline: float) -> None:
    """Until the auth service answers through Traefik (which learns its routes asynchronously);
    fails at once if Traefik or the auth service exits."""

    def answered_200() -> bool | Waiting:
        proxy.check_alive()
        response = requests.get(f"{proxy.url}/auth/health", headers={"Host": host}, timeout=2)
        return True if response.status_code == 200 else Waiting(f"HTTP {response.status_code}")

    def not_200(last: str) -> ProxyStartError:
        return ProxyStartError(proxy.name, f"/auth/health through Traefik not 200 ({last})", log_tail=proxy.log_tail())

    poll_until(answered_200, deadline=deadline, timed_out=not_200, transient=(requests.RequestException,))

