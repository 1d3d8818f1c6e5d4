"""The simulated swarm and context sync: replication and convergence (state hash and DAG heads),
a joiner's Uninitialized window, the no-sync fault, namespace and context joins over the swarm,
dead peers, peer exchange, and bootstrap addresses (no DNS transport)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.simhelpers import (
    Merod,
    Node,
    NodeProcess,
    context_state,
    create_context,
    create_namespace,
    install_application,
    join_context,
    join_namespace,
    jsonrpc,
    poll_until,
    rpc,
    rpc_output,
    share_context,
    sync_status,
    wait_for_peers,
    wait_initialized,
)

SYNC_TIMEOUT = 20.0


def _sync_every(sim: Merod, node: Node, interval_ms: int = 100) -> None:
    # the plugin sets 500 ms; faster still keeps this suite quick (merod's minimum is 100 ms)
    sim.cli_ok(node.name, "config", f"sync.interval_ms={interval_ms}")


def _mesh(sim: Merod, count: int, interval_ms: int = 100, env: dict[str, str] | None = None) -> list[NodeProcess]:
    """`count` nodes booting from the first, connected."""
    first = sim.init("n0")
    nodes = [first] + [sim.init(f"n{i}", boot_nodes=[first.swarm_addr]) for i in range(1, count)]
    for node in nodes:
        _sync_every(sim, node, interval_ms)
    running = [sim.spawn(node, env=env) for node in nodes]
    for process in running:
        process.wait_healthy()
    for process in running[1:]:
        wait_for_peers(process, lambda peers: peers >= 1, f"{process.name} to connect")
    return running


def test_three_nodes_replicate_a_context_and_converge(sim: Merod, app_file: Path) -> None:
    a, b, c = _mesh(sim, 3)
    context_id, _ = share_context(a, [b, c], app_file)
    rpc_output(a, context_id, "set", {"key": "before-join", "value": "a0"})

    # a write on each node, plus one key written concurrently everywhere (last writer wins)
    for running in (a, b, c):
        wait_initialized(running, context_id)
        rpc_output(running, context_id, "set", {"key": f"from-{running.name}", "value": running.name})
        rpc_output(running, context_id, "set", {"key": "contended", "value": running.name})

    expected = {"before-join": "a0", "from-n0": "n0", "from-n1": "n1", "from-n2": "n2"}

    def converged() -> tuple[Any, Any] | None:
        states = {context_state(running, context_id) for running in (a, b, c)}
        entries = [rpc_output(running, context_id, "entries", {}) for running in (a, b, c)]
        if len(states) == 1 and all(e == entries[0] for e in entries) and expected.items() <= entries[0].items():
            return states.pop(), entries[0]["contended"]
        return None

    (state_hash, heads), winner = poll_until(converged, timeout=SYNC_TIMEOUT, what="the three replicas to converge")
    assert winner in ("n0", "n1", "n2")
    assert heads, "members that agree report the same DAG heads"
    assert all(len(head) == 32 for head in heads)
    assert state_hash != "11111111111111111111111111111111"


def test_each_write_moves_the_dag_heads(sim: Merod, app_file: Path) -> None:
    (a,) = _mesh(sim, 1)
    context_id = create_context(a, *_app_and_namespace(a, app_file))
    genesis = context_state(a, context_id)

    rpc_output(a, context_id, "set", {"key": "k", "value": "v"})
    after_write = context_state(a, context_id)
    rpc_output(a, context_id, "get", {"key": "k"})
    after_read = context_state(a, context_id)

    assert len(genesis[1]) == 1, "a context starts with its genesis delta"
    assert after_write[1] != genesis[1]
    assert len(after_write[1]) == 1
    assert after_write[0] != genesis[0]
    assert after_read == after_write, "a read writes no delta"


def _app_and_namespace(node: NodeProcess, app_file: Path) -> tuple[str, str]:
    application_id = install_application(node, app_file)
    return application_id, create_namespace(node, application_id)


def test_a_joiner_is_uninitialized_until_its_first_sync_tick(sim: Merod, app_file: Path) -> None:
    # merod's default interval: the joiner's next tick is seconds away, not inside its join
    a, b = _mesh(sim, 2, interval_ms=5000)
    application_id, namespace_id = _app_and_namespace(a, app_file)
    context_id = create_context(a, application_id, namespace_id)
    rpc_output(a, context_id, "set", {"key": "k", "value": "v"})
    install_application(b, app_file)
    join_namespace(a, b, namespace_id)
    join_context(b, context_id)

    before = rpc(b, context_id, "get", {"key": "k"}).json()
    status = sync_status(b, context_id)
    state_hash, heads = context_state(b, context_id)

    assert before["error"] == {"type": "Uninitialized"}, "Uninitialized has no `data`"
    assert status["isInitialized"] is False
    assert status["syncState"]["state"] in ("waitingForPeers", "syncing")
    assert state_hash == "11111111111111111111111111111111"
    assert heads == ()
    wait_initialized(b, context_id, timeout=15)
    assert rpc_output(b, context_id, "get", {"key": "k"}) == "v"
    assert context_state(b, context_id) == context_state(a, context_id)
    assert sync_status(b, context_id)["syncState"] == {"state": "idle"}


def test_a_node_with_the_no_sync_fault_never_gets_the_state(sim: Merod, app_file: Path) -> None:
    first = sim.init("a")
    second = sim.init("b", boot_nodes=[first.swarm_addr])
    for node in (first, second):
        _sync_every(sim, node)
    a = sim.start(first)
    b = sim.start(second, env={"MEROD_SIM_FAULT": "no-sync"})  # it joins, but never syncs
    wait_for_peers(b, lambda peers: peers >= 1, "b to connect")
    application_id, namespace_id = _app_and_namespace(a, app_file)
    context_id = create_context(a, application_id, namespace_id)
    install_application(b, app_file)
    join_namespace(a, b, namespace_id)
    join_context(b, context_id)
    rpc_output(a, context_id, "set", {"key": "k", "value": "v"})

    time.sleep(1.0)  # ten sync intervals

    assert rpc(b, context_id, "get", {"key": "k"}).json()["error"] == {"type": "Uninitialized"}
    status = sync_status(b, context_id)
    assert status["isInitialized"] is False
    assert status["syncState"] == {"state": "waitingForPeers"}


def test_a_context_join_waits_for_the_namespace_and_fails_when_it_arrives(sim: Merod, app_file: Path) -> None:
    # what a real merod (0.11.0-rc.25) does: no answer while the node is not in the namespace; a
    # join left waiting fails with 500 once the node joins it; asked again, it joins
    a, b = _mesh(sim, 2)
    application_id, namespace_id = _app_and_namespace(a, app_file)
    context_id = create_context(a, application_id, namespace_id)
    install_application(b, app_file)
    answers: list[requests.Response] = []
    early = threading.Thread(target=lambda: answers.append(
        requests.post(f"{b.url}/admin-api/contexts/{context_id}/join", json={}, timeout=30)))
    early.start()

    time.sleep(1.0)
    assert not answers, "merod does not answer a context join before the node is in the namespace"
    join_namespace(a, b, namespace_id)
    early.join(timeout=20)

    assert answers, "the pending join answers once the namespace reached the node"
    assert (answers[0].status_code, answers[0].json()) == (500, {"error": "Internal server error"})
    assert join_context(b, context_id)


def test_a_namespace_join_without_a_reachable_member_times_out_with_504(sim: Merod, app_file: Path) -> None:
    a = sim.start(sim.init("inviter"))
    lonely_node = sim.init("lonely")
    lonely = sim.start(lonely_node, env={"MEROD_SIM_NAMESPACE_DISCOVERY_WAIT_MS": "500"})
    application_id, namespace_id = _app_and_namespace(a, app_file)
    invitation = a.post(f"/admin-api/namespaces/{namespace_id}/invite", json={}).json()["data"]["invitation"]

    response = lonely.post(f"/admin-api/namespaces/{namespace_id}/join", json={"invitation": invitation})

    assert response.status_code == 504
    assert response.json() == {"error": "could not reach any member of this namespace to complete the join; "
                                        "make sure the inviting node is online and retry"}
    assert application_id


def test_only_the_namespace_admin_invites(sim: Merod, app_file: Path) -> None:
    a, b = _mesh(sim, 2)
    application_id, namespace_id = _app_and_namespace(a, app_file)
    install_application(b, app_file)
    join_namespace(a, b, namespace_id)

    by_member = b.post(f"/admin-api/namespaces/{namespace_id}/invite", json={})
    namespaces = poll_until(lambda: [ns for ns in a.get("/admin-api/namespaces").json()["data"]
                                     if ns["memberCount"] == 2] or None, timeout=10, what="a to count b")

    assert by_member.status_code == 500
    assert by_member.json() == {"error": "Internal server error"}
    assert namespaces[0]["namespaceId"] == namespace_id
    assert application_id


def test_jsonrpc_errors_are_typed_as_merod_serializes_them(sim: Merod, app_file: Path) -> None:
    (a,) = _mesh(sim, 1)
    context_id = create_context(a, *_app_and_namespace(a, app_file))

    def error(params: dict[str, Any], method: str = "execute") -> Any:
        return jsonrpc(a, method, params)["error"]

    assert error({"contextId": context_id, "method": "get_result", "argsJson": {"key": "k"}}) == {
        "type": "FunctionCallError",
        "data": "the method call returned an error: ["
        + ", ".join(str(byte) for byte in b'{"data":"k","kind":"NotFound"}') + "]",
    }
    assert error({"contextId": context_id, "method": "set", "argsJson": {"key": "k", "value": 1}})["data"] == (
        "guest panicked: set: failed to deserialize arguments (expected { key: String, value: String }): "
        'Error("invalid type: integer `1`, expected a string", line: 1, column: 20) at apps/kv-store/src/lib.rs:41:12'
    )
    assert error({"contextId": context_id, "method": "len", "argsJson": {"x": 1}})["data"] == (
        'guest panicked: len: takes no arguments, but the call sent unknown field(s): ["x"] '
        "at apps/kv-store/src/lib.rs:117:12"
    )
    assert error({"contextId": context_id, "method": "no-such", "argsJson": {}})["data"] == (
        "method name contains invalid character at position 2: '-'"
    )
    assert error({"contextId": context_id, "method": "", "argsJson": {}}) == {
        "type": "ParseError", "data": "Field 'method' is required but was empty"}
    assert error({"contextId": context_id, "method": "get"}) == {"type": "ParseError",
                                                                  "data": "missing field `argsJson`"}
    assert error({"contextId": "1" * 32}, "sync_status") == {"type": "ContextNotFound"}
    assert jsonrpc(a, "set_ephemeral", {"contextId": context_id, "state": [1, 2]})["result"] == {}
    assert rpc_output(a, context_id, "get_or_insert", {"key": "k", "value": "first"}) == "first"
    assert rpc_output(a, context_id, "get_or_insert", {"key": "k", "value": "second"}) == "first"
    assert rpc_output(a, context_id, "update_if_exists", {"key": "nope", "value": "x"}) is False
    assert rpc_output(a, context_id, "remove", {"key": "k"}) == "first"
    assert rpc_output(a, context_id, "len", {}) == 0


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


def test_dns_bootstrap_addresses_are_never_dialled(sim: Merod) -> None:
    # merod has no DNS transport: a name in bootstrap.nodes is never resolved nor dialled
    a = sim.init("a")
    b = sim.init("b", boot_nodes=[f"/dns4/localhost/tcp/{a.swarm_port}/p2p/{a.peer_id}"])
    pa, pb = sim.start(a), sim.start(b)

    time.sleep(1.5)

    assert pb.get("/admin-api/peers").json() == {"count": 0}
    assert pa.get("/admin-api/peers").json() == {"count": 0}
    assert f"/dns4/localhost/tcp/{a.swarm_port}" in pb.log_text()


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
