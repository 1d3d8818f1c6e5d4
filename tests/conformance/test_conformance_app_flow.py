"""Section 7, checks 7, 8 and 9: the app flow with a real application on two nodes, the node's
identity, contexts that need a namespace, and bootstrap addresses (no DNS transport)."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import pytest
import requests

from pytest_meronodes.merod_program import MerodProgram
from tests.simhelpers import (
    Merod,
    NodeProcess,
    create_context,
    create_namespace,
    install_application,
    join_context,
    join_namespace,
    poll_until,
    rpc,
    rpc_output,
    sync_status,
    wait_for_peers,
)

HEX64 = re.compile(r"[0-9a-f]{64}")
BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
NO_IDENTITY = (
    "this node holds neither a device nor an account root yet; both are minted the first time it takes part "
    "in a namespace"
)
SYNC_TIMEOUT = 30.0
DNS_WAIT = 5.0  # how long two nodes that know each other only by name must stay apart


def _pair(nodes: Merod, *, sync_interval_ms: int = 500) -> tuple[NodeProcess, NodeProcess]:
    """Two nodes, each booting from the other by /ip4 address, connected."""
    a, b = nodes.start_mesh(["a", "b"], f"sync.interval_ms={sync_interval_ms}")
    return a, b


def test_the_app_flow_shares_a_context_between_two_nodes(
    nodes: Merod, conformance_app: Path, merod: MerodProgram
) -> None:
    """7: install on two nodes, namespace, context, invite, join, context join; the joiner answers
    `Uninitialized` until its first sync; a write on one node is read on the other."""
    creator, joiner = _pair(nodes, sync_interval_ms=2000)
    application_id = install_application(creator, conformance_app)
    assert install_application(joiner, conformance_app) == application_id, "the same file, the same id"
    namespace_id = create_namespace(creator, application_id)
    context_id = create_context(creator, application_id, namespace_id)
    join_namespace(creator, joiner, namespace_id)
    join_context(joiner, context_id)

    # until its first sync the joiner holds no state: execute says so, typed, without data
    first_status = sync_status(joiner, context_id)
    answers = []
    while True:
        body = rpc(joiner, context_id, "get", {"key": "greeting"}).json()
        answers.append(body)
        if "result" in body or len(answers) > 600:
            break
        assert body["error"] == {"type": "Uninitialized"}, body
        time.sleep(0.05)
    assert "result" in answers[-1], f"the joiner never synced: {answers[-1]}"
    assert sync_status(joiner, context_id)["isInitialized"] is True
    if not first_status["isInitialized"]:
        assert first_status["syncState"]["state"] in ("waitingForPeers", "syncing", "receivingSnapshot")
    if merod.is_simulator:
        assert answers[0].get("error") == {"type": "Uninitialized"}, "the first sync waits for the next tick"

    rpc_output(creator, context_id, "set", {"key": "greeting", "value": "hello"})
    seen = poll_until(lambda: rpc_output(joiner, context_id, "get", {"key": "greeting"}), timeout=SYNC_TIMEOUT,
                      what="the write on the creator to reach the joiner")

    assert seen == "hello"
    for node in (creator, joiner):
        status = sync_status(node, context_id)
        assert status["contextId"] == context_id
        assert status["isInitialized"] is True
        assert isinstance(status["syncState"]["state"], str)
        assert isinstance(status["failureCount"], int)


def test_identity_is_404_before_a_namespace_and_four_keys_after(nodes: Merod, conformance_app: Path) -> None:
    """8: the node's identity is minted the first time it takes part in a namespace."""
    node = nodes.start(nodes.init("n1"))

    before = node.get("/admin-api/identity")
    create_namespace(node, install_application(node, conformance_app))
    after = node.get("/admin-api/identity")

    assert before.status_code == 404
    assert before.json() == {"error": NO_IDENTITY}
    assert after.status_code == 200, after.text
    identity = after.json()["data"]
    assert set(identity) == {"accountId", "deviceId", "publicKey", "accountRootPublicKey"}
    assert HEX64.fullmatch(identity["accountId"])
    assert HEX64.fullmatch(identity["deviceId"])
    assert BASE58.fullmatch(identity["publicKey"])
    assert HEX64.fullmatch(identity["accountRootPublicKey"])


def test_creating_a_context_without_a_group_is_a_400(nodes: Merod) -> None:
    """8: contexts live in namespaces; the old body (no `groupId`, no `initializationParams`) is
    refused by the JSON extractor, which names the first missing field."""
    node = nodes.start(nodes.init("n1"))
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, application_id = int.from_bytes(b"\x01" + secrets.token_bytes(31), "big"), ""
    while number:
        number, digit = divmod(number, 58)
        application_id = alphabet[digit] + application_id
    body = f'{{"applicationId": "{application_id}"}}'

    response = node.post("/admin-api/contexts", data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid JSON data: Failed to deserialize the JSON body into the target type: missing field "
        f"`initializationParams` at line 1 column {len(body)}"
    }


def test_dns_bootstrap_addresses_never_connect_and_ip4_ones_do(nodes: Merod) -> None:
    """9: merod's swarm has no DNS transport: a /dns4 bootstrap address is never dialled."""
    a, b = nodes.init("a"), nodes.init("b")
    nodes.set_boot_nodes(a, [f"/dns4/localhost/tcp/{b.swarm_port}/p2p/{b.peer_id}"])
    nodes.set_boot_nodes(b, [f"/dns4/localhost/tcp/{a.swarm_port}/p2p/{a.peer_id}"])
    by_name = nodes.start_all([a, b])

    deadline = time.monotonic() + DNS_WAIT
    while time.monotonic() < deadline:
        counts = [process.get("/admin-api/peers").json()["count"] for process in by_name]
        assert counts == [0, 0], f"nodes that know each other only by name connected: {counts}"
        time.sleep(0.25)
    for process in by_name:
        assert process.terminate() == 0

    nodes.boot_from_each_other([a, b])
    by_address = nodes.start_all([a, b])
    for process in by_address:
        wait_for_peers(process, lambda count: count >= 1, f"{process.name} to see its peer by /ip4 address")


@pytest.mark.parametrize("path", ["/admin-api/contexts/11111111111111111111111111111111111111111111"])
def test_a_malformed_context_id_in_the_url_is_a_plain_text_400(nodes: Merod, path: str) -> None:
    node = nodes.start(nodes.init("n1"))

    response = requests.get(node.url + path, timeout=5)

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Invalid URL: buffer provided to decode base58 encoded string into was too small"
