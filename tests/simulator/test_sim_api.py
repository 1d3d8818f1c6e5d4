"""The admin API and JSON-RPC beyond the recordings, as merod's handlers and axum's extractors
answer: malformed ids, unknown namespaces, request bodies serde refuses, routes and methods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.simhelpers import (
    Merod,
    NodeProcess,
    create_namespace,
    install_application,
    jsonrpc,
    write_fake_app,
)


@pytest.fixture(scope="module")
def node(module_sim: Merod) -> NodeProcess:
    return module_sim.start(module_sim.init("api"))


@pytest.fixture(scope="module")
def namespace(node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    application_id = install_application(node, write_fake_app(tmp_path_factory.mktemp("app") / "kv_store.wasm"))
    return application_id, create_namespace(node, application_id)


def _post_raw(node: NodeProcess, path: str, body: str) -> requests.Response:
    return node.post(path, data=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("context_id", "message"),
    [
        ("abc", "Invalid URL: invalid length 3, expected a base58 encoded hash"),
        ("0" * 44, "Invalid URL: provided string contained invalid character '0' at byte 0"),
        ("1" * 46, "Invalid URL: buffer provided to decode base58 encoded string into was too small"),
    ],
)
def test_a_malformed_context_id_in_a_url_is_a_plain_text_400(node: NodeProcess, context_id: str, message: str) -> None:
    response = node.get(f"/admin-api/contexts/{context_id}")

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == message


def test_a_well_formed_unknown_context_is_a_404(node: NodeProcess) -> None:
    response = node.get(f"/admin-api/contexts/{'1' * 32}")

    assert (response.status_code, response.json()) == (404, {"error": "Context not found"})


def test_joining_a_malformed_context_id_is_a_400(node: NodeProcess) -> None:
    response = node.post("/admin-api/contexts/not-an-id/join", json={})

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid context id format: expected base58 or hex-encoded 32 bytes"}


def test_an_unknown_namespace(node: NodeProcess) -> None:
    malformed = node.get("/admin-api/namespaces/xyz")
    unknown = node.get(f"/admin-api/namespaces/{'ab' * 32}")

    assert (malformed.status_code, malformed.json()) == (
        400, {"error": "Invalid group id format: expected hex-encoded 32 bytes"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "No namespace identity found"})


def test_create_context_checks_the_group_id_and_the_init_params(node: NodeProcess, namespace: tuple[str, str]) -> None:
    application_id, namespace_id = namespace
    bad_group = node.post("/admin-api/contexts", json={
        "applicationId": application_id, "groupId": "xyz", "initializationParams": []})
    params = list(json.dumps({"x": 1}).encode())
    bad_params = node.post("/admin-api/contexts", json={
        "applicationId": application_id, "groupId": namespace_id, "initializationParams": params})
    not_bytes = node.post("/admin-api/contexts", json={
        "applicationId": application_id, "groupId": namespace_id, "initializationParams": [256]})

    assert (bad_group.status_code, bad_group.json()) == (
        400, {"error": "Invalid group_id: expected hex-encoded 32 bytes"})
    assert bad_params.status_code == 400
    assert bad_params.json() == {"error": "application initialization failed: guest panicked: init: takes no "
                                          'arguments, but the call sent unknown field(s): ["x"] at '
                                          "apps/kv-store/src/lib.rs:35:12"}
    assert not_bytes.status_code == 400
    assert not_bytes.json()["error"].startswith(
        "Invalid JSON data: Failed to deserialize the JSON body into the target type: "
        "initializationParams[0]: invalid value: integer `256`, expected u8 at line 1 column ")


def test_install_refuses_a_path_with_parent_components(node: NodeProcess, tmp_path: Path) -> None:
    response = node.post("/admin-api/install-dev-application",
                         json={"path": str(tmp_path / ".." / "app.wasm"), "metadata": []})

    assert response.status_code == 400
    assert response.json() == {
        "error": "Field 'path' has invalid format: path must not contain '..' traversal components"}


def test_unknown_routes_and_methods_are_bare_404_and_405(node: NodeProcess) -> None:
    missing = node.get("/admin-api/no-such-route")
    wrong_method = node.post("/admin-api/peers", json={})

    assert (missing.status_code, missing.content) == (404, b"")
    assert (wrong_method.status_code, wrong_method.content) == (405, b"")


def test_jsonrpc_envelopes_axum_refuses(node: NodeProcess) -> None:
    body = '{"jsonrpc": "2.0", "method": "execute", "params": {}}'
    no_id = _post_raw(node, "/jsonrpc", body)
    old_version = _post_raw(node, "/jsonrpc", '{"jsonrpc": "1.0", "id": 1, "method": "execute", "params": {}}')
    not_json = _post_raw(node, "/jsonrpc", "{")

    assert (no_id.status_code, no_id.headers["Content-Type"]) == (422, "text/plain; charset=utf-8")
    assert no_id.text == ("Failed to deserialize the JSON body into the target type: missing field `id` "
                          f"at line 1 column {len(body)}")
    assert old_version.status_code == 422
    assert "Invalid JSON-RPC version" in old_version.text
    assert not_json.status_code == 400
    assert not_json.text.startswith("Failed to parse the request body as JSON: EOF while parsing an object")


def test_jsonrpc_echoes_the_request_id(node: NodeProcess) -> None:
    assert jsonrpc(node, "nope", {}, request_id=42)["id"] == 42
    response = _post_raw(node, "/jsonrpc", '{"jsonrpc": "2.0", "id": "abc", "method": "nope", "params": {}}')
    assert response.json()["id"] == "abc"
