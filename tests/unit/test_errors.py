"""Errors carry the failed gate as a field, and their text names it once."""

from __future__ import annotations

from pytest_meronodes.errors import NodeAuthError, NodeStartError, ProxyStartError


def test_the_gate_is_a_field_and_prefixes_the_reason() -> None:
    error = NodeStartError("node1", "expected every node to see >= 1 peers", gate="mesh", exit_code=3)
    assert (error.gate, error.reason, error.exit_code) == ("mesh", "expected every node to see >= 1 peers", 3)
    assert str(error) == "node 'node1': mesh gate: expected every node to see >= 1 peers (exit code 3)"


def test_health_and_ready_are_named_by_their_paths_and_init_by_its_reason() -> None:
    assert str(NodeStartError("n", "not 200", gate="health")) == "node 'n': /admin-api/health gate: not 200"
    assert str(NodeStartError("n", "not 200", gate="ready")) == "node 'n': /admin-api/ready gate: not 200"
    assert str(NodeStartError("n", "merod init failed", gate="init")) == "node 'n': merod init failed"


def test_a_reason_that_names_its_gate_is_not_prefixed_twice() -> None:
    error = NodeStartError("n", "process exited during start (/admin-api/health gate)", gate="health",
                           gate_in_reason=True)
    assert error.gate == "health"
    assert str(error) == "node 'n': process exited during start (/admin-api/health gate)"


def test_the_auth_reason_stays_bare_for_whoever_words_it_again() -> None:
    error = NodeAuthError("n", "could not obtain a token: HTTP 401", gate="auth")
    assert error.reason == "could not obtain a token: HTTP 401"
    assert str(error) == "node 'n': auth gate: could not obtain a token: HTTP 401"


def test_a_proxy_failure_names_the_component_not_a_node() -> None:
    error = ProxyStartError("meronodes-x-traefik", "traefik exited during start", exit_code=1, log_tail="bad config")
    assert error.gate == "proxy"
    assert error.component == "meronodes-x-traefik"
    assert str(error).startswith("meronodes-x-traefik: proxy gate: traefik exited during start (exit code 1)\n")
    assert "bad config" in str(error)
