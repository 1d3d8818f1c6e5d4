"""What merod answers in the app flow, typed where tests read fields. Every record keeps the whole
answer in `raw`, so a field this plugin does not name yet is still one lookup away. Shapes are
those of merod 0.11.0-rc.25 (see ../shared/merod-recordings in the project history)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _heads(value: Any) -> tuple[str, ...]:
    """DAG heads come as lists of 32 byte values; hex is what a message can show."""
    heads = []
    for head in value or ():
        heads.append(bytes(head).hex() if isinstance(head, Sequence) and not isinstance(head, str) else str(head))
    return tuple(sorted(heads))


@dataclass(frozen=True)
class NodeIdentity:
    """`GET /admin-api/identity`: the keys a node mints the first time it takes part in a namespace."""

    account_id: str
    device_id: str
    public_key: str
    account_root_public_key: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NodeIdentity:
        return cls(_str(data, "accountId"), _str(data, "deviceId"), _str(data, "publicKey"),
                   _str(data, "accountRootPublicKey"), data)


@dataclass(frozen=True)
class Application:
    """An installed application (`GET /admin-api/applications`)."""

    id: str
    size: int
    source: str
    package: str
    version: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Application:
        return cls(_str(data, "id"), int(data.get("size") or 0), _str(data, "source"), _str(data, "package"),
                   _str(data, "version"), data)


@dataclass(frozen=True)
class Namespace:
    """A namespace (the root group contexts live in), as `GET /admin-api/namespaces[/<id>]` shows it."""

    id: str
    application_id: str
    member_count: int
    context_count: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Namespace:
        return cls(_str(data, "namespaceId"), _str(data, "targetApplicationId"), int(data.get("memberCount") or 0),
                   int(data.get("contextCount") or 0), data)


@dataclass(frozen=True)
class NamespaceMembership:
    """What a node that joined a namespace with an invitation answers."""

    namespace_id: str
    member_identity: str
    member_account: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NamespaceMembership:
        return cls(_str(data, "namespaceId"), _str(data, "memberIdentity"), _str(data, "memberAccount"), data)


@dataclass(frozen=True)
class CreatedContext:
    """`POST /admin-api/contexts`."""

    context_id: str
    member_public_key: str
    namespace_id: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CreatedContext:
        return cls(_str(data, "contextId"), _str(data, "memberPublicKey"), _str(data, "groupId"), data)


@dataclass(frozen=True)
class JoinedContext:
    """`POST /admin-api/contexts/<id>/join`."""

    context_id: str
    member_public_key: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> JoinedContext:
        return cls(_str(data, "contextId"), _str(data, "memberPublicKey"), data)


@dataclass(frozen=True)
class ContextInfo:
    """A context as one node holds it: its state hash and DAG heads are what sync compares."""

    id: str
    application_id: str
    state_hash: str | None
    dag_heads: tuple[str, ...]
    namespace_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ContextInfo:
        # releases before 0.10.1-rc.35 call the state hash `rootHash`
        state_hash = data.get("contextStateHash", data.get("rootHash"))
        return cls(_str(data, "id"), _str(data, "applicationId"), None if state_hash is None else str(state_hash),
                   _heads(data.get("dagHeads")), data.get("groupId"), data)


@dataclass(frozen=True)
class SyncStatus:
    """JSON-RPC `sync_status`: whether the node has the context's state yet, and what sync does."""

    context_id: str
    is_initialized: bool
    state: str  # idle, waitingForPeers, syncing, receivingSnapshot, backingOff
    failure_count: int
    last_error: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SyncStatus:
        sync_state = data.get("syncState") or {}
        state = sync_state.get("state") if isinstance(sync_state, Mapping) else sync_state
        error = data.get("lastError")
        return cls(_str(data, "contextId"), bool(data.get("isInitialized")), str(state or "unknown"),
                   int(data.get("failureCount") or 0), None if error is None else str(error), data)

    def describe(self) -> str:
        text = "initialised" if self.is_initialized else "NOT initialised"
        text += f", sync {self.state}"
        if self.failure_count:
            text += f", {self.failure_count} failed attempt(s)"
        if self.last_error:
            text += f" (last error: {self.last_error})"
        return text
