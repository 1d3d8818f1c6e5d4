"""The typed results of the client, read from what a real merod answered (tests/recordings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_meronodes.client import initialization_bytes
from pytest_meronodes.records import (
    Application,
    ContextInfo,
    CreatedContext,
    JoinedContext,
    Namespace,
    NamespaceMembership,
    NodeIdentity,
    SyncStatus,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def recorded(step: int) -> Any:
    for line in (RECORDINGS / "app-flow-no-auth.jsonl").read_text().splitlines():
        exchange = json.loads(line)
        if exchange.get("step") == step:
            return exchange["response"]
    raise LookupError(step)


def test_identity_has_the_four_keys() -> None:
    identity = NodeIdentity.from_api(recorded(15)["data"])
    assert len(identity.account_id) == 64
    assert len(identity.device_id) == 64
    assert identity.public_key == "68Bhj2ZQuPws18eHByiWqzJegNwNfCQcx3XuxLNsAGn"
    assert len(identity.account_root_public_key) == 64


def test_applications_and_namespaces() -> None:
    [application] = [Application.from_api(app) for app in recorded(9)["data"]["apps"]]
    assert application.id == "4bs4rmaVi95R4wq5k32kTKt7Vjonqf7b4jmX6wAGKxoi"
    assert application.size == 551774
    [namespace] = [Namespace.from_api(item) for item in recorded(13)["data"]]
    assert namespace.id == Namespace.from_api(recorded(14)["data"]).id == recorded(12)["data"]["namespaceId"]
    assert namespace.application_id == application.id
    assert (namespace.member_count, namespace.context_count) == (1, 0)


def test_contexts_joins_and_memberships() -> None:
    created = CreatedContext.from_api(recorded(16)["data"])
    assert created.namespace_id == recorded(12)["data"]["namespaceId"]
    joined = JoinedContext.from_api(recorded(20)["data"])
    assert joined.context_id == created.context_id
    membership = NamespaceMembership.from_api(recorded(19)["data"])
    assert membership.member_identity == joined.member_public_key


def test_a_context_shows_its_state_hash_and_heads_in_hex() -> None:
    node1, node2 = ContextInfo.from_api(recorded(33)["data"]), ContextInfo.from_api(recorded(34)["data"])
    assert node1.state_hash == node2.state_hash == "H9mU1UQh8FondmUtmig2hmRmMUesH19432LJnxjtvUQX"
    assert node1.dag_heads == ("1f260e850b028d1634703a0e537c76db538af1466a9c5d1df499bda130dccc7a",)
    [listed] = [ContextInfo.from_api(item) for item in recorded(35)["data"]["contexts"]]
    assert listed.namespace_id == recorded(12)["data"]["namespaceId"]


def test_older_releases_call_the_state_hash_root_hash() -> None:
    assert ContextInfo.from_api({"id": "c", "rootHash": "abc"}).state_hash == "abc"


def test_sync_status() -> None:
    status = SyncStatus.from_api(recorded(31)["result"])
    assert status.is_initialized
    assert status.state == "idle"
    assert status.describe() == "initialised, sync idle"
    waiting = SyncStatus.from_api({"contextId": "c", "isInitialized": False, "failureCount": 2,
                                   "syncState": {"state": "backingOff", "retryInSecs": 8},
                                   "lastError": "No peers to sync with"})
    assert waiting.describe() == (
        "NOT initialised, sync backingOff, 2 failed attempt(s) (last error: No peers to sync with)"
    )


def test_initialization_params_are_the_json_bytes_of_the_init_arguments() -> None:
    assert initialization_bytes(None) == []
    assert initialization_bytes({"a": 1}) == list(b'{"a":1}')
    assert initialization_bytes(b"\x00\xff") == [0, 255]
