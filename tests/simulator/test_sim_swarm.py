"""The simulated swarm: replication and convergence between nodes, dead peers, peer exchange
and DNS bootstrap addresses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.simhelpers import (
    Merod,
    Node,
    NodeProcess,
    install_and_create_context,
    poll_until,
    rpc_output,
    wait_for_peers,
)

SYNC_TIMEOUT = 20.0


def _fast_sync(sim: Merod, node: Node) -> None:
    # the E2E default is 500 ms; faster still keeps this suite quick
    sim.cli_ok(node.name, "config", "sync.interval_ms=100")


def _state_hash(node: NodeProcess, context_id: str) -> str:
    response = node.get(f"/admin-api/contexts/{context_id}")
    assert response.status_code == 200, response.text
    value = response.json()["data"]["contextStateHash"]
    assert isinstance(value, str)
    assert value
    return value


def test_three_nodes_replicate_a_context_and_converge(sim: Merod, app_file: Path) -> None:
    a = sim.init("a")
    b = sim.init("b", boot_nodes=[a.swarm_addr])
    c = sim.init("c", boot_nodes=[a.swarm_addr])
    for node in (a, b, c):
        _fast_sync(sim, node)
    pa, pb, pc = (sim.spawn(node) for node in (a, b, c))
    for running in (pa, pb, pc):
        running.wait_healthy()
    # joining asks connected peers for the context, so wait for the connections first
    for running in (pb, pc):
        wait_for_peers(running, lambda count: count >= 1, f"{running.name} to connect")

    context_id = install_and_create_context(pa, app_file)
    rpc_output(pa, context_id, "set", {"key": "before-join", "value": "a0"})
    for running in (pb, pc):
        joined = running.post(f"/admin-api/contexts/{context_id}/join")
        assert joined.status_code == 200, joined.text
        assert joined.json()["data"]["contextId"] == context_id

    # a write on each node, plus one key written concurrently everywhere (last writer wins)
    for running in (pa, pb, pc):
        rpc_output(running, context_id, "set", {"key": f"from-{running.name}", "value": running.name})
        rpc_output(running, context_id, "set", {"key": "contended", "value": running.name})

    expected = {"before-join": "a0", "from-a": "a", "from-b": "b", "from-c": "c"}

    def converged() -> tuple[str, Any] | None:
        hashes = {_state_hash(running, context_id) for running in (pa, pb, pc)}
        contended = {rpc_output(running, context_id, "get", {"key": "contended"}) for running in (pa, pb, pc)}
        seen = all(
            rpc_output(running, context_id, "get", {"key": key}) == value
            for running in (pa, pb, pc)
            for key, value in expected.items()
        )
        if len(hashes) == 1 and len(contended) == 1 and seen:
            return hashes.pop(), contended.pop()
        return None

    _, winner = poll_until(converged, timeout=SYNC_TIMEOUT, what="the three replicas to converge")
    assert winner in ("a", "b", "c")


def test_a_killed_node_disappears_from_its_peers(sim: Merod) -> None:
    a = sim.init("a")
    b = sim.init("b", boot_nodes=[a.swarm_addr])
    pa, pb = sim.start(a), sim.start(b)
    wait_for_peers(pa, lambda count: count == 1, "a to see b")

    pb.kill()  # SIGKILL: no goodbye, only the closed connection

    assert pb.process.returncode == -9
    wait_for_peers(pa, lambda count: count == 0, "a to drop the dead b")


def test_peers_learn_about_each_other_through_a_common_peer(sim: Merod) -> None:
    # a chain a <- b <- c: only peer exchange can introduce c to a
    a = sim.init("a")
    b = sim.init("b", boot_nodes=[a.swarm_addr])
    c = sim.init("c", boot_nodes=[b.swarm_addr])
    pa, pb, pc = (sim.spawn(node) for node in (a, b, c))
    for running in (pa, pb, pc):
        running.wait_healthy()

    wait_for_peers(pa, lambda count: count == 2, "a to learn about c")
    wait_for_peers(pc, lambda count: count == 2, "c to learn about a")


def test_bootstrap_addresses_may_use_dns_names(sim: Merod) -> None:
    a = sim.init("a")
    b = sim.init("b", boot_nodes=[f"/dns4/localhost/tcp/{a.swarm_port}/p2p/{a.peer_id}"])
    pa, pb = sim.start(a), sim.start(b)

    wait_for_peers(pb, lambda count: count == 1, "b to reach a by name")
    wait_for_peers(pa, lambda count: count == 1, "a to accept b")


def test_a_bootstrap_address_with_the_wrong_peer_id_is_not_trusted(sim: Merod) -> None:
    a, impostor = sim.init("a"), sim.init("impostor")
    # b expects a's peer id at the impostor's address
    b = sim.init("b", boot_nodes=[f"/ip4/127.0.0.1/tcp/{impostor.swarm_port}/p2p/{a.peer_id}"])
    sim.start(impostor)
    pb = sim.start(b)
    # a's connection proves b is live and serving; b's only peer must then be a
    sim.set_boot_nodes(a, [b.swarm_addr])
    sim.start(a)

    wait_for_peers(pb, lambda count: count >= 1, "b to accept a")
    # b had been dialling the impostor since long before a started
    assert pb.get("/admin-api/peers").json() == {"count": 1}
