"""Embedded auth beyond section 7, as crates/auth and merod's guard answer: expiry, refresh and
refresh reuse, host binding, the token's subject and permissions, query tokens, CORS preflight,
bad credentials and their rate limit, forward-auth validation."""

from __future__ import annotations

import re

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


def _tokens(node: NodeProcess, *, client_name: str | None = None, permissions: tuple[str, ...] = ("admin",),
            username: str = ADMIN_USER) -> tuple[str, str]:
    body = token_request(client_name or node.url, permissions=permissions, username=username)
    response = node.post("/auth/token", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["error"] is None
    return str(data["access_token"]), str(data["refresh_token"])


def _refresh(node: NodeProcess, access: str, refresh: str) -> requests.Response:
    return node.post("/auth/refresh", json={"access_token": access, "refresh_token": refresh})


@pytest.fixture(scope="module")
def secure(module_sim: Merod) -> NodeProcess:
    return _embedded_node(module_sim, "secure")


def test_an_expired_token_is_refreshed_once(sim: Merod) -> None:
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
    assert jwt_parts(new_access)[1]["sub"] == jwt_parts(access)[1]["sub"]

    # refresh tokens are single use: the spent one is refused, and says so
    reused = _refresh(node, access, refresh)
    assert reused.status_code == 401
    assert reused.headers["X-Auth-Error"] == "token_reuse"
    assert reused.json() == {"data": None, "error": "Refresh token reuse detected; re-authentication required"}


def test_refresh_is_refused_while_the_access_token_is_valid(secure: NodeProcess) -> None:
    access, refresh = _tokens(secure)

    response = _refresh(secure, access, refresh)

    assert response.status_code == 401
    assert response.json() == {"data": None, "error": "Access token still valid"}


def test_a_token_is_bound_to_the_host_it_was_minted_for(secure: NodeProcess) -> None:
    port = secure.url.rsplit(":", 1)[1]
    access, _ = _tokens(secure, client_name=f"http://localhost:{port}")
    assert jwt_parts(access)[1]["node_url"] == f"http://localhost:{port}"

    on_ip = secure.get("/admin-api/peers", headers=bearer(access))
    on_name = requests.get(f"http://localhost:{port}/admin-api/peers", headers=bearer(access), timeout=5)

    assert (on_ip.status_code, on_ip.content, on_ip.headers.get("X-Auth-Error")) == (401, b"", None)
    assert on_name.status_code == 200


def test_the_token_carries_the_accounts_permissions_whatever_was_asked(secure: NodeProcess) -> None:
    access, _ = _tokens(secure, permissions=("context:execute",))

    assert jwt_parts(access)[1]["permissions"] == ["admin"]
    assert secure.get("/admin-api/peers", headers=bearer(access)).status_code == 200


def test_the_token_subject_is_the_root_key_id_not_the_user(secure: NodeProcess) -> None:
    access, refresh = _tokens(secure)

    subject = jwt_parts(access)[1]["sub"]
    assert re.fullmatch(r"[0-9a-f]{64}", subject)
    assert jwt_parts(refresh)[1]["sub"] == subject
    assert jwt_parts(_tokens(secure)[0])[1]["sub"] == subject, "the same account, the same subject"


def test_a_token_may_come_in_the_query(secure: NodeProcess) -> None:
    access, _ = _tokens(secure)

    assert secure.get("/admin-api/peers", params={"token": access}).status_code == 200
    assert secure.get("/admin-api/peers", params={"token": "not-a-jwt"}).status_code == 401


def test_a_refresh_token_does_not_open_protected_routes(secure: NodeProcess) -> None:
    _, refresh = _tokens(secure)

    response = secure.get("/admin-api/peers", headers=bearer(refresh))

    assert (response.status_code, response.content) == (401, b"")


def test_cors_preflight_needs_no_token(secure: NodeProcess) -> None:
    response = requests.options(
        secure.url + "/admin-api/peers",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.content == b""
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
    assert response.json() == {
        "data": None, "error": "Authentication failed: Authentication failed: Invalid username or password"}


def test_five_failed_logins_lock_the_identity_out_for_a_minute(sim: Merod) -> None:
    node = _embedded_node(sim, "limited")
    wrong = token_request(node.url, password="wrong-password")
    failures = [node.post("/auth/token", json=wrong).status_code for _ in range(5)]

    locked = node.post("/auth/token", json=token_request(node.url))  # even the right password

    assert failures == [401] * 5
    assert locked.status_code == 429
    assert locked.json()["error"] == "Too many failed login attempts; please try again later"
    assert "Retry-After" in locked.headers


def test_providers_lists_user_password(secure: NodeProcess) -> None:
    response = secure.get("/auth/providers")

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "providers": [{
                "name": "user_password",
                "type": "credentials",
                "description": "Authenticates users with username and password credentials",
                "configured": True,
                "config": {"enabled": True, "description": "Username and password authentication"},
            }],
            "count": 1,
        },
        "error": None,
    }


def test_validate_answers_forward_auth(secure: NodeProcess) -> None:
    access, _ = _tokens(secure)

    allowed = secure.get("/auth/validate", headers=bearer(access))
    refused = secure.get("/auth/validate")
    garbage = secure.get("/auth/validate", headers=bearer("not-a-jwt"))

    assert allowed.status_code == 200
    assert allowed.json() == {"data": "", "error": None}
    assert allowed.headers["X-Auth-User"] == jwt_parts(access)[1]["sub"]
    assert allowed.headers["X-Auth-Permissions"] == "admin"
    assert refused.status_code == 401
    assert refused.headers["X-Auth-Error"] == "missing_token"
    assert refused.json() == {"data": None, "error": "No token provided"}
    assert garbage.status_code == 401
    assert garbage.headers["X-Auth-Error"] == "invalid_token"
