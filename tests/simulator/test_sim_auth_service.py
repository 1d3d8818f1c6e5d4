"""`merod-sim auth`: the standalone auth service that stands in for mero-auth behind Traefik's
forward-auth (section 4, proxy mode), answering as crates/auth does."""

from __future__ import annotations

import re

import pytest

from tests.simhelpers import SIM_COMMAND, Merod, NodeProcess, bearer, free_port, jwt_parts, token_request

USER, PASSWORD = "proxy-admin", "proxy-password-1"
CREDENTIALS = {"MERO_AUTH_ADMIN_USER": USER, "MERO_AUTH_ADMIN_PASSWORD": PASSWORD}


def _start_service(runner: Merod) -> NodeProcess:
    port = free_port()
    service = runner.launch(
        "auth",
        [*SIM_COMMAND, "auth", "--listen", f"127.0.0.1:{port}"],
        f"http://127.0.0.1:{port}",
        health_path="/auth/health",
        env=CREDENTIALS,
    )
    service.wait_healthy()
    return service


@pytest.fixture(scope="module")
def service(module_sim: Merod) -> NodeProcess:
    return _start_service(module_sim)


@pytest.fixture(scope="module")
def access_token(service: NodeProcess) -> str:
    # behind Traefik the token is minted for the node's public URL, not the auth service's
    body = token_request("http://node-1.localhost", username=USER, password=PASSWORD)
    response = service.post("/auth/token", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


def _forwarded(headers: dict[str, str]) -> dict[str, str]:
    # what Traefik's forward-auth sends along with the original request's coordinates
    return {"X-Forwarded-Host": "node-1.localhost", "X-Forwarded-Method": "GET", **headers}


def test_validate_accepts_a_token_in_the_forwarded_query(service: NodeProcess, access_token: str) -> None:
    response = service.get(
        "/auth/validate", headers=_forwarded({"X-Forwarded-Uri": f"/admin-api/peers?token={access_token}"})
    )

    assert response.status_code == 200
    assert response.json() == {"data": "", "error": None}
    assert response.headers["X-Auth-User"] == jwt_parts(access_token)[1]["sub"]
    assert re.fullmatch(r"[0-9a-f]{64}", response.headers["X-Auth-User"])
    assert response.headers["X-Auth-Permissions"] == "admin"


def test_validate_refuses_requests_without_a_token(service: NodeProcess) -> None:
    response = service.get("/auth/validate", headers=_forwarded({"X-Forwarded-Uri": "/jsonrpc"}))

    assert response.status_code == 401
    assert response.headers["X-Auth-Error"] == "missing_token"
    assert response.json() == {"data": None, "error": "No token provided"}


def test_validate_refuses_a_token_forwarded_for_another_node(service: NodeProcess, access_token: str) -> None:
    headers = {**_forwarded(bearer(access_token)), "X-Forwarded-Host": "node-2.localhost"}

    response = service.get("/auth/validate", headers=headers)

    assert response.status_code == 403
    assert response.headers["X-Auth-Error"] == "invalid_node"
    assert response.json()["error"] == (
        "Token is not valid for this host. Token is for 'node-1.localhost' but request is to 'node-2.localhost'"
    )


def test_validate_does_not_special_case_preflights(service: NodeProcess) -> None:
    # mero-auth checks every request it is asked about: the proxy must route OPTIONS around it
    headers = {**_forwarded({"X-Forwarded-Uri": "/jsonrpc"}), "X-Forwarded-Method": "OPTIONS"}

    assert service.get("/auth/validate", headers=headers).status_code == 401


def test_admin_routes_are_guarded(service: NodeProcess) -> None:
    body = token_request(service.url, username=USER, password=PASSWORD)
    own_token = service.post("/auth/token", json=body).json()["data"]["access_token"]

    anonymous = service.get("/admin/identity")
    authorised = service.get("/admin/identity", headers=bearer(own_token))

    assert (anonymous.status_code, anonymous.headers["X-Auth-Error"]) == (400, "invalid_request")
    assert authorised.status_code == 200
    assert authorised.json()["data"]["service"] == "calimero-auth"
    assert authorised.json()["data"]["providers"] == ["user_password"]


def test_bad_credentials_are_refused(service: NodeProcess) -> None:
    body = token_request(service.url, username=USER, password="not-the-password")

    response = service.post("/auth/token", json=body)

    assert response.status_code == 401
    assert response.json()["error"] == "Authentication failed: Authentication failed: Invalid username or password"


def test_sigterm_stops_the_service_promptly(sim: Merod) -> None:
    running = _start_service(sim)

    code = running.terminate(timeout=5)  # None if still running after 5 s ("a few seconds")

    assert code == 0, running.log_tail()
