"""What a node holds: installed applications, its identity (account, device, signing key; minted
the first time it takes part in a namespace), namespaces, and contexts with their DAG of deltas.

A context's state is the kv-store's map, replicated as a DAG: a genesis delta at creation, then
one delta per write whose parents are the node's heads at the time; the heads are the deltas no
other delta names as a parent. Members exchange deltas when they sync, so members holding the
same deltas report the same heads and the same state hash. Each write is a last-writer-wins
register (Lamport clock, writer), so the state does not depend on the order deltas arrive in."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .identity import b58encode
from .nodeconfig import write_atomic

STATE_FILE = "sim-state.json"
ZERO_HASH = b58encode(bytes(32))  # "11111111111111111111111111111111"
CHUNK_SIZE = 1 << 20  # the blob store's chunk size


def blob_id(data: bytes) -> bytes:
    """calimero-store's blob id: SHA-256 over the SHA-256 of each 1 MiB chunk."""
    digest = hashlib.sha256()
    for start in range(0, len(data), CHUNK_SIZE):
        digest.update(hashlib.sha256(data[start : start + CHUNK_SIZE]).digest())
    return digest.digest()


def application_id(bytecode: bytes, size: int, source: str, metadata: bytes) -> str:
    """ApplicationId of a raw wasm install: SHA-256 of the borsh of (bytecode, size, source,
    metadata), so the same file installed from another path gets another id."""
    source_bytes = source.encode()
    encoded = (
        bytecode + size.to_bytes(8, "little") + len(source_bytes).to_bytes(4, "little") + source_bytes
        + len(metadata).to_bytes(4, "little") + metadata
    )
    return b58encode(hashlib.sha256(encoded).digest())


@dataclass
class Application:
    id: str
    bytecode: str  # base58 blob id
    size: int
    source: str
    metadata: list[int]
    package: str = "unknown"
    version: str = "0.0.0"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "blob": {"bytecode": self.bytecode, "compiled": ZERO_HASH},
            "size": self.size,
            "source": self.source,
            "metadata": self.metadata,
            "package": self.package,
            "version": self.version,
        }


@dataclass
class Keys:
    """The node's identity: the key it signs with, its device, and its account."""

    public_key: str  # base58, the signing key (memberPublicKey, memberIdentity)
    device_id: str  # hex
    account_id: str  # hex
    root_public_key: str  # hex, the account's root key

    @classmethod
    def mint(cls) -> Keys:
        root = secrets.token_bytes(32)
        signing = secrets.token_bytes(32)
        return cls(
            public_key=b58encode(signing),
            device_id=hashlib.sha256(b"device" + signing).hexdigest(),
            account_id=hashlib.sha256(b"account" + root).hexdigest(),
            root_public_key=root.hex(),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "deviceId": self.device_id,
            "publicKey": self.public_key,
            "accountRootPublicKey": self.root_public_key,
        }


@dataclass
class Namespace:
    id: str  # hex
    application_id: str
    app_key: str  # hex: the application's bytecode blob id
    created_at: int
    admin: str  # the creating account
    members: dict[str, str] = field(default_factory=dict)  # account -> signing key
    contexts: list[str] = field(default_factory=list)
    name: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "namespaceId": self.id,
            "appKey": self.app_key,
            "targetApplicationId": self.application_id,
            "createdAt": self.created_at,
        }
        if self.name is not None:
            data["name"] = self.name
        data.update({"memberCount": len(self.members), "contextCount": len(self.contexts), "subgroupCount": 0})
        return data

    def merge(self, other: dict[str, Any]) -> bool:
        """Take in what a peer knows of this namespace (members, contexts); True if it grew."""
        changed = False
        for account, key in (other.get("members") or {}).items():
            if account not in self.members:
                self.members[str(account)] = str(key)
                changed = True
        for context_id in other.get("contexts") or []:
            if context_id not in self.contexts:
                self.contexts.append(str(context_id))
                changed = True
        return changed

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id, "application_id": self.application_id, "app_key": self.app_key,
            "created_at": self.created_at, "admin": self.admin, "members": dict(self.members),
            "contexts": list(self.contexts), "name": self.name,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Namespace:
        return cls(**record)


# A delta: {"id": hex, "parents": [hex], "ops": [[key, value or None, clock, writer]]}
Delta = dict[str, Any]


def genesis_delta(context_id: str) -> Delta:
    """The application's init, the same on every member."""
    digest = hashlib.sha256(b"merod-sim genesis " + context_id.encode()).hexdigest()
    return {"id": digest, "parents": [], "ops": []}


@dataclass
class Context:
    id: str
    application_id: str
    namespace_id: str
    member_public_key: str
    deltas: dict[str, Delta] = field(default_factory=dict)
    initialized: bool = False
    clock: int = 0
    entries: dict[str, list[Any]] = field(default_factory=dict)  # key -> [clock, writer, value]

    # -- the DAG ----------------------------------------------------------------------------
    def heads(self) -> list[str]:
        parents = {parent for delta in self.deltas.values() for parent in delta["parents"]}
        return sorted(delta_id for delta_id in self.deltas if delta_id not in parents)

    def add(self, delta: Delta) -> bool:
        """Apply a delta (once); True if it was new."""
        if delta["id"] in self.deltas:
            return False
        self.deltas[delta["id"]] = delta
        for key, value, clock, writer in delta["ops"]:
            mine = self.entries.get(key)
            if mine is None or (clock, writer) > (mine[0], mine[1]):
                self.entries[key] = [clock, writer, value]
            self.clock = max(self.clock, clock)
        return True

    def write(self, writes: dict[str, str | None], writer: str) -> Delta:
        """A delta of this node's writes, on top of its heads."""
        self.clock += 1
        ops = [[key, value, self.clock, writer] for key, value in writes.items()]
        parents = self.heads()
        body = json.dumps([parents, ops, secrets.token_hex(8)], separators=(",", ":"))
        delta = {"id": hashlib.sha256(body.encode()).hexdigest(), "parents": parents, "ops": ops}
        self.add(delta)
        return delta

    # -- what the API shows -------------------------------------------------------------------
    def live(self) -> dict[str, str]:
        return {key: entry[2] for key, entry in self.entries.items() if entry[2] is not None}

    def read(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return None if entry is None else entry[2]

    def state_hash(self) -> str:
        """All zeroes until the node has the state (merod's sign of an uninitialised context)."""
        if not self.initialized:
            return ZERO_HASH
        canonical = json.dumps(sorted(self.live().items()), separators=(",", ":"), ensure_ascii=False)
        return b58encode(hashlib.sha256(self.id.encode() + b"\0" + canonical.encode()).digest())

    def to_api(self, application_version: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "applicationId": self.application_id,
                                "contextStateHash": self.state_hash()}
        heads = self.heads() if self.initialized else []
        if heads:  # merod skips an empty list
            data["dagHeads"] = [list(bytes.fromhex(head)) for head in heads]
        if application_version is not None:
            data["applicationVersion"] = application_version
        return data

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id, "application_id": self.application_id, "namespace_id": self.namespace_id,
            "member_public_key": self.member_public_key, "deltas": self.deltas,
            "initialized": self.initialized,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Context:
        deltas = record.pop("deltas", {})
        context = cls(**record)
        for delta in deltas.values():
            context.add(delta)
        return context


class NodeState:
    """Everything a node holds, persisted to one JSON file in its data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE
        self.lock = threading.RLock()
        self.applications: dict[str, Application] = {}
        self.keys: Keys | None = None
        self.namespaces: dict[str, Namespace] = {}
        self.contexts: dict[str, Context] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        self.applications = {key: Application(**value) for key, value in raw.get("applications", {}).items()}
        self.keys = Keys(**raw["keys"]) if raw.get("keys") else None
        self.namespaces = {key: Namespace.from_record(value) for key, value in raw.get("namespaces", {}).items()}
        self.contexts = {key: Context.from_record(value) for key, value in raw.get("contexts", {}).items()}

    def save(self) -> None:
        with self.lock:
            raw = {
                "applications": {key: vars(app) for key, app in self.applications.items()},
                "keys": vars(self.keys) if self.keys else None,
                "namespaces": {key: ns.record() for key, ns in self.namespaces.items()},
                "contexts": {key: ctx.record() for key, ctx in self.contexts.items()},
            }
            write_atomic(self.path, json.dumps(raw).encode())

    def ensure_keys(self) -> Keys:
        """The node's identity, minted the first time it takes part in a namespace."""
        with self.lock:
            if self.keys is None:
                self.keys = Keys.mint()
                self.save()
            return self.keys

    def install(self, path: Path, metadata: list[int], package: str | None, version: str | None) -> Application:
        data = path.read_bytes()
        bytecode = blob_id(data)
        source = path.as_uri()
        app = Application(
            id=application_id(bytecode, len(data), source, bytes(metadata)),
            bytecode=b58encode(bytecode), size=len(data), source=source, metadata=list(metadata),
            package=package or "unknown", version=version or "0.0.0",
        )
        with self.lock:
            self.applications[app.id] = app
            self.save()
        return app

    def new_namespace(self, app: Application, name: str | None) -> Namespace:
        with self.lock:
            keys = self.ensure_keys()
            namespace = Namespace(
                id=secrets.token_hex(32), application_id=app.id,
                app_key=bytes(_b58(app.bytecode)).hex(), created_at=int(time.time()),
                admin=keys.account_id, members={keys.account_id: keys.public_key}, name=name,
            )
            self.namespaces[namespace.id] = namespace
            self.save()
        return namespace

    def new_context(self, app: Application, namespace: Namespace) -> Context:
        with self.lock:
            keys = self.ensure_keys()
            context = Context(b58encode(secrets.token_bytes(32)), app.id, namespace.id, keys.public_key,
                              initialized=True)
            context.add(genesis_delta(context.id))
            self.contexts[context.id] = context
            namespace.contexts.append(context.id)
            self.save()
        return context


def _b58(text: str) -> bytes:
    from .serdejson import parse_hash

    return parse_hash(text)
