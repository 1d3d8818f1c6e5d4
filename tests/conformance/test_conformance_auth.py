"""Section 7, check 5: embedded auth (section 4)."""

from __future__ import annotations

import time

import pytest

from tests.simhelpers import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    Merod,
    NodeProcess,
    bearer,
    free_port,
    jwt_parts,
    token_request,
)

PROTECTED = [
    ("GET", "/admin-api/peers"),
    ("GET", "/admin-api/identity"),
    ("GET", "/admin-api/applications"),
    ("GET", "/admin-api/contexts"),
    ("POST", "/jsonrpc"),
]


@pytest.fixture(scope="module")
def secure_node(module_nodes: Merod) -> NodeProcess:
    node = module_nodes.init(
        "secure",
        "--auth-mode", "embedded",
        "--admin-user", ADMIN_USER,
        "--admin-password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    return module_nodes.start(node)


@pytest.fixture(scope="module")
def tokens(secure_node: NodeProcess) -> dict[str, str]:
    response = secure_node.post("/auth/token", json=token_request(secure_node.url))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error"] is None
    assert set(body["data"]) >= {"access_token", "refresh_token"}
    return {key: str(value) for key, value in body["data"].items()}


def test_embedded_auth_without_an_admin_fails_to_init(nodes: Merod) -> None:
    result = nodes.cli(
        "n1",
        "init",
        "--auth-mode", "embedded",
        "--server-host", "127.0.0.1",
        "--server-port", str(free_port()),
        "--swarm-host", "127.0.0.1",
        "--swarm-port", str(free_port()),
    )

    assert result.returncode == 1
    assert result.stderr.strip()


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_routes_need_a_token(secure_node: NodeProcess, method: str, path: str) -> None:
    response = secure_node.post(path, json={}) if method == "POST" else secure_node.get(path)

    assert response.status_code == 401
    assert response.content == b""


def test_health_and_ready_stay_public(secure_node: NodeProcess) -> None:
    health = secure_node.get("/admin-api/health")
    ready = secure_node.get("/admin-api/ready")

    assert (health.status_code, health.content) == (200, b'{"data":{"status":"alive"}}')
    assert (ready.status_code, ready.content) == (200, b'{"data":{"status":"ready"}}')


def test_auth_health(secure_node: NodeProcess) -> None:
    response = secure_node.get("/auth/health")

    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None
    assert body["data"]["status"] == "alive"
    assert body["data"]["storage"] is True
    assert isinstance(body["data"]["uptime_seconds"], int)


def test_token_is_an_hs256_jwt_with_the_documented_claims(
    secure_node: NodeProcess, tokens: dict[str, str]
) -> None:
    now = time.time()
    for kind in ("access", "refresh"):
        header, claims = jwt_parts(tokens[f"{kind}_token"])
        assert header["alg"] == "HS256"
        assert isinstance(claims["sub"], str)
        assert claims["sub"]
        assert claims["iss"] == claims["aud"] == "calimero-auth"
        assert isinstance(claims["iat"], int)
        assert isinstance(claims["exp"], int)
        assert claims["iat"] <= now + 5 < claims["exp"]
        assert isinstance(claims["jti"], str)
        assert claims["jti"]
        assert claims["token_type"] == kind
        assert isinstance(claims["permissions"], list)
        assert claims["node_url"] == secure_node.url


def test_the_access_token_opens_protected_routes(secure_node: NodeProcess, tokens: dict[str, str]) -> None:
    response = secure_node.get("/admin-api/peers", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200
    assert response.json() == {"count": 0}


def test_refresh_is_refused_while_the_access_token_is_valid(
    secure_node: NodeProcess, tokens: dict[str, str]
) -> None:
    response = secure_node.post(
        "/auth/refresh",
        json={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]},
    )

    assert response.status_code == 401
    assert "Access token still valid" in response.text


def test_validate_names_the_user(secure_node: NodeProcess, tokens: dict[str, str]) -> None:
    allowed = secure_node.get("/auth/validate", headers=bearer(tokens["access_token"]))
    refused = secure_node.get("/auth/validate")

    assert allowed.status_code == 200
    assert allowed.headers["X-Auth-User"]
    assert "X-Auth-Permissions" in allowed.headers
    assert refused.status_code == 401
