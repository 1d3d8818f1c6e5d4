"""Section 7, checks 3, 4 and 6: a running node's HTTP API, its shutdown, a two-node mesh and
JSON-RPC execution (in a context of a namespace: the app flow of merod >= 0.11.0-rc.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.simhelpers import (
    Merod,
    NodeProcess,
    install_and_create_context,
    poll_until,
    rpc,
    rpc_output,
    wait_for_peers,
)

SIGTERM_DEADLINE = 5.0


@pytest.fixture(scope="module")
def lone_node(module_nodes: Merod) -> NodeProcess:
    """A node without boot nodes (init's public ones cleared), shared by read-only checks."""
    return module_nodes.start(module_nodes.init("lone"))


def test_health_answers_alive_with_the_exact_body(lone_node: NodeProcess) -> None:
    response = lone_node.get("/admin-api/health")

    assert response.status_code == 200
    assert response.content == b'{"data":{"status":"alive"}}'
    assert response.headers["Content-Type"].startswith("application/json")


def test_ready_answers_ready_with_the_exact_body(lone_node: NodeProcess) -> None:
    # merod marks itself ready just after it starts serving: a moment after health answers
    def ready() -> requests.Response | None:
        answer = lone_node.get("/admin-api/ready")
        return answer if answer.status_code == 200 else None

    response = poll_until(ready, timeout=10, what="ready to answer 200")

    assert response.content == b'{"data":{"status":"ready"}}'


def test_a_node_alone_has_no_peers(lone_node: NodeProcess) -> None:
    response = lone_node.get("/admin-api/peers")

    assert response.status_code == 200
    # no `data` wrapper on this route
    assert response.json() == {"count": 0}


def test_execute_answers_with_the_output(lone_node: NodeProcess, conformance_app: Path) -> None:
    context_id = install_and_create_context(lone_node, conformance_app)

    stored = rpc(lone_node, context_id, "set", {"key": "greeting", "value": "hello"})

    assert stored.status_code == 200
    body = stored.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 1
    assert "output" in body["result"]
    assert "error" not in body
    assert rpc_output(lone_node, context_id, "get", {"key": "greeting"}) == "hello"


def test_execute_of_an_unknown_method_gives_a_typed_error(lone_node: NodeProcess, conformance_app: Path) -> None:
    context_id = install_and_create_context(lone_node, conformance_app)

    response = rpc(lone_node, context_id, "no_such_method", {})

    # JSON-RPC errors travel in a 200 response
    assert response.status_code == 200
    body = response.json()
    assert "result" not in body
    assert body["error"] == {"type": "FunctionCallError", "data": 'method "no_such_method" not found'}


def test_sigterm_shuts_down_gracefully_with_exit_0(nodes: Merod) -> None:
    running = nodes.start(nodes.init("n1"))

    # "within a few seconds": terminate() gives None if the process is still running by then
    code = running.terminate(timeout=SIGTERM_DEADLINE)

    assert code == 0, running.log_tail()
    # the drain ends with this line (a tracing line: timestamp and level come first). Not always
    # the log's last: merod's actors log their own stops from other threads, and a failed release
    # check may print on stderr at any moment
    lines = running.log_text().splitlines()
    drain = next(i for i, line in enumerate(lines) if "Shutting down; draining before exit" in line)
    assert any("Node shutdown complete" in line for line in lines[drain:])


def test_two_nodes_booting_from_each_other_connect(nodes: Merod) -> None:
    a, b = nodes.init("a"), nodes.init("b")
    nodes.boot_from_each_other([a, b])
    running = nodes.start_all([a, b])

    for node in running:
        wait_for_peers(node, lambda count: count >= 1, f"{node.name} to see its peer")
