"""Applications and contexts of a node, with the built-in key-value application whose state
replicates between nodes as last-writer-wins entries (a simple CRDT), so replicas converge."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .identity import b58encode, content_id, random_id
from .nodeconfig import write_atomic

STATE_FILE = "sim-state.json"
# An entry: [lamport clock, writer's peer id, value or None for a removal]
Entry = list[Any]


class ExecutionError(Exception):
    """A call to the application failed; `kind` is the merod error type it maps to."""

    def __init__(self, kind: str, data: Any) -> None:
        super().__init__(f"{kind}: {data}")
        self.kind = kind
        self.data = data


@dataclass
class Context:
    id: str
    application_id: str
    member_public_key: str
    entries: dict[str, Entry] = field(default_factory=dict)
    clock: int = 0

    def live(self) -> dict[str, Any]:
        return {key: entry[2] for key, entry in sorted(self.entries.items()) if entry[2] is not None}

    def state_hash(self) -> str:
        canonical = json.dumps(self.live(), sort_keys=True, separators=(",", ":"))
        return b58encode(hashlib.sha256(canonical.encode()).digest())

    def merge(self, remote: dict[str, Any]) -> bool:
        changed = False
        for key, entry in remote.items():
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], int)):
                continue
            mine = self.entries.get(key)
            if mine is None or (entry[0], str(entry[1])) > (mine[0], str(mine[1])):
                self.entries[key] = entry
                changed = True
            self.clock = max(self.clock, entry[0])
        return changed


class NodeState:
    def __init__(self, data_dir: Path, peer_id: str) -> None:
        self.path = data_dir / STATE_FILE
        self.peer_id = peer_id
        self.lock = threading.RLock()
        self.applications: dict[str, dict[str, Any]] = {}
        self.contexts: dict[str, Context] = {}
        self._load()

    # -- persistence ----------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        self.applications = raw.get("applications", {})
        self.contexts = {cid: Context(**ctx) for cid, ctx in raw.get("contexts", {}).items()}

    def save(self) -> None:
        with self.lock:
            raw = {
                "applications": self.applications,
                "contexts": {
                    cid: {
                        "id": c.id,
                        "application_id": c.application_id,
                        "member_public_key": c.member_public_key,
                        "entries": c.entries,
                        "clock": c.clock,
                    }
                    for cid, c in self.contexts.items()
                },
            }
            write_atomic(self.path, json.dumps(raw).encode())

    # -- applications ---------------------------------------------------------------------------
    def install_application(self, path: Path, metadata: Any) -> str:
        blob = path.read_bytes()
        application_id = content_id(blob)
        with self.lock:
            self.applications[application_id] = {
                "id": application_id,
                "blob": {"bytecode": content_id(blob + b"bytecode"), "compiled": ""},
                "size": len(blob),
                "source": f"file://{path}",
                "metadata": metadata,
                "installedAt": int(time.time()),
            }
            self.save()
        return application_id

    # -- contexts -------------------------------------------------------------------------------
    def create_context(self, application_id: str) -> Context:
        with self.lock:
            context = Context(random_id(), application_id, random_id())
            self.contexts[context.id] = context
            self.save()
        return context

    def adopt_context(self, context_id: str, application_id: str, entries: dict[str, Any]) -> Context:
        """Join a context known from a peer, taking the peer's state as the starting point."""
        with self.lock:
            context = self.contexts.get(context_id)
            if context is None:
                context = Context(context_id, application_id, random_id())
                self.contexts[context_id] = context
                if application_id not in self.applications:
                    # merod fetches the application blob from the peer; we record its id
                    self.applications[application_id] = {
                        "id": application_id,
                        "blob": {"bytecode": "", "compiled": ""},
                        "size": 0,
                        "source": "peer",
                        "metadata": [],
                        "installedAt": int(time.time()),
                    }
            context.merge(entries)
            self.save()
        return context

    def merge(self, context_id: str, entries: dict[str, Any]) -> bool:
        with self.lock:
            context = self.contexts.get(context_id)
            if context is None:
                return False
            changed = context.merge(entries)
            if changed:
                self.save()
            return changed

    def execute(self, context_id: str, method: str, args: Any) -> tuple[Any, dict[str, Entry]]:
        """Run a method of the key-value application; return its output and the entries it wrote."""
        with self.lock:
            context = self.contexts.get(context_id)
            if context is None:
                raise ExecutionError("Uninitialized", f"context {context_id} is not on this node")
            if not isinstance(args, dict):
                raise ExecutionError(
                    "FunctionCallError", {"type": "InvalidArguments", "data": "argsJson must be an object"}
                )
            if method == "set":
                key, value = self._key(args), args.get("value")
                if value is None:
                    raise ExecutionError("FunctionCallError", {"type": "InvalidArguments", "data": "missing 'value'"})
                return None, self._write(context, key, value)
            if method == "get":
                entry = context.entries.get(self._key(args))
                return (entry[2] if entry else None), {}
            if method == "remove":
                key = self._key(args)
                entry = context.entries.get(key)
                if entry is None or entry[2] is None:
                    return None, {}
                return entry[2], self._write(context, key, None)
            if method == "entries":
                return context.live(), {}
            if method == "len":
                return len(context.live()), {}
            raise ExecutionError("FunctionCallError", {"type": "MethodNotFound", "data": method})

    @staticmethod
    def _key(args: dict[str, Any]) -> str:
        key = args.get("key")
        if not isinstance(key, str):
            raise ExecutionError("FunctionCallError", {"type": "InvalidArguments", "data": "missing string 'key'"})
        return key

    def _write(self, context: Context, key: str, value: Any) -> dict[str, Entry]:
        context.clock += 1
        entry: Entry = [context.clock, self.peer_id, value]
        context.entries[key] = entry
        self.save()
        return {key: entry}
