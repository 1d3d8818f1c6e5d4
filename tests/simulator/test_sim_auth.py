"""Embedded auth edge cases beyond section 7: expiry, refresh rotation and reuse, revocation,
host binding, permissions, query tokens, CORS preflight and bad credentials."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import requests

from tests.simhelpers import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    Merod,
    NodeProcess,
    bearer,
    jwt_parts,
    poll_until,
    token_request,
)


def _embedded_node(sim: Merod, name: str, access_token_expiry: int | None = None) -> NodeProcess:
    node = sim.init(
        name,
        "--auth-mode", "embedded",
        "--admin-user", ADMIN_USER,
        "--admin-password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    if access_token_expiry is not None:
        sim.cli_ok(name, "config", f"server.embedded_auth.jwt.access_token_expiry={access_token_expiry}")
    return sim.start(node)


def _tokens(
    node: NodeProcess, *, client_name: str | None = None, permissions: Sequence[str] = ("admin",)
) -> tuple[str, str]:
    body = token_request(client_name or node.url, permissions=permissions)
    response = node.post("/auth/token", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return str(data["access_token"]), str(data["refresh_token"])


def _refresh(node: NodeProcess, access: str, refresh: str) -> requests.Response:
    return node.post("/auth/refresh", json={"access_token": access, "refresh_token": refresh})


@pytest.fixture(scope="module")
def secure(module_sim: Merod) -> NodeProcess:
    return _embedded_node(module_sim, "secure")


def test_expired_token_then_refresh_then_refresh_reuse(sim: Merod) -> None:
    node = _embedded_node(sim, "short-lived", access_token_expiry=1)
    access, refresh = _tokens(node)

    def expired() -> requests.Response | None:
        response = node.get("/admin-api/peers", headers=bearer(access))
        return response if response.status_code != 200 else None

    denied = poll_until(expired, timeout=10, what="the 1 s access token to expire")
    assert denied.status_code == 401
    assert denied.headers["X-Auth-Error"] == "token_expired"
    assert denied.content == b""

    renewed = _refresh(node, access, refresh)
    assert renewed.status_code == 200, renewed.text
    new_access, new_refresh = renewed.json()["data"]["access_token"], renewed.json()["data"]["refresh_token"]
    assert {new_access, new_refresh}.isdisjoint({access, refresh})
    assert jwt_parts(new_access)[1]["token_type"] == "access"
    assert jwt_parts(new_refresh)[1]["token_type"] == "refresh"

    # refresh tokens rotate: the old one is spent
    reused = _refresh(node, access, refresh)
    assert reused.status_code == 401
    assert "token_reuse" in reused.text


def test_refresh_revokes_the_old_access_token(sim: Merod) -> None:
    # 30 s is inside the 60 s refresh window, yet long enough for the old token to be unexpired
    node = _embedded_node(sim, "rotating", access_token_expiry=30)
    access, refresh = _tokens(node)

    renewed = _refresh(node, access, refresh)
    assert renewed.status_code == 200, renewed.text

    old = node.get("/admin-api/peers", headers=bearer(access))
    assert old.status_code == 403
    assert old.headers["X-Auth-Error"] == "token_revoked"
    new = node.get("/admin-api/peers", headers=bearer(renewed.json()["data"]["access_token"]))
    assert new.status_code == 200


def test_a_token_is_bound_to_the_host_it_was_minted_for(secure: NodeProcess) -> None:
    port = secure.url.rsplit(":", 1)[1]
    access, _ = _tokens(secure, client_name=f"http://localhost:{port}")
    assert jwt_parts(access)[1]["node_url"] == f"http://localhost:{port}"

    on_ip = secure.get("/admin-api/peers", headers=bearer(access))
    on_name = requests.get(f"http://localhost:{port}/admin-api/peers", headers=bearer(access), timeout=5)

    assert on_ip.status_code == 401
    assert on_name.status_code == 200


def test_a_token_without_the_permission_is_denied(secure: NodeProcess) -> None:
    access, _ = _tokens(secure, permissions=["context:execute"])

    admin_route = secure.get("/admin-api/peers", headers=bearer(access))
    rpc = secure.post(
        "/jsonrpc",
        headers=bearer(access),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "execute",
            "params": {"contextId": "none", "method": "get", "argsJson": {"key": "k"}},
        },
    )

    assert admin_route.status_code == 403
    assert admin_route.headers["X-Auth-Error"] == "permission_denied"
    # the permission it has does open JSON-RPC (the unknown context is the app's error)
    assert rpc.status_code == 200
    assert rpc.json()["error"]["type"] == "Uninitialized"


def test_a_token_may_come_in_the_query(secure: NodeProcess) -> None:
    access, _ = _tokens(secure)

    assert secure.get("/admin-api/peers", params={"token": access}).status_code == 200
    assert secure.get("/admin-api/peers", params={"token": "not-a-jwt"}).status_code == 401


def test_cors_preflight_needs_no_token(secure: NodeProcess) -> None:
    response = requests.options(
        secure.url + "/admin-api/peers",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        timeout=5,
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("username", "password"),
    [(ADMIN_USER, "wrong-password"), ("intruder", ADMIN_PASSWORD)],
)
def test_bad_credentials_get_no_token(secure: NodeProcess, username: str, password: str) -> None:
    response = secure.post(
        "/auth/token", json=token_request(secure.url, username=username, password=password)
    )

    assert response.status_code == 401
    assert response.json()["data"] is None
    assert response.json()["error"]


def test_providers_lists_user_password(secure: NodeProcess) -> None:
    response = secure.get("/auth/providers")

    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None
    assert body["data"]["count"] == 1
    assert [p["name"] for p in body["data"]["providers"]] == ["user_password"]


def test_the_token_subject_is_the_admin(secure: NodeProcess) -> None:
    access, _ = _tokens(secure)

    assert jwt_parts(access)[1]["sub"] == ADMIN_USER
