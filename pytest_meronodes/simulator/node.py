"""A running simulated node: HTTP API, swarm, replicated contexts, and its lifecycle."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import FAULT_ENV
from .api import NodeApi
from .logs import Logger
from .nodeconfig import Multiaddr, get_dotted
from .state import Context, NodeState
from .swarm import Message, Swarm
from .web import HttpServers

if TYPE_CHECKING:
    from .auth import AuthService

TARGET = "merod"
SYNC_TARGET = "calimero_node::sync"
JOIN_TIMEOUT = 5.0


class StartupError(Exception):
    pass


class Node:
    def __init__(
        self,
        *,
        name: str,
        node_dir: Path,
        config: dict[str, Any],
        auth_mode: str,
        log: Logger,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.faults = faults  # injected by the plugin's tests (FAULT_ENV)
        self.node_dir = node_dir
        self.log = log
        peer_id = get_dotted(config, "identity.peer_id")
        if not isinstance(peer_id, str):
            raise StartupError("config.toml has no [identity] peer_id; run init --force")
        self.peer_id: str = peer_id
        self.sync_interval = max(int(get_dotted(config, "sync.interval_ms") or 5000), 10) / 1000
        data_dir = node_dir / str(get_dotted(config, "datastore.path") or "data")
        data_dir.mkdir(mode=0o700, exist_ok=True)
        (node_dir / str(get_dotted(config, "blobstore.path") or "blobs")).mkdir(mode=0o700, exist_ok=True)
        self.state = NodeState(data_dir, self.peer_id)
        self.auth = self._make_auth(config) if auth_mode == "embedded" else None
        self.swarm = Swarm(
            peer_id=self.peer_id,
            listen=list(get_dotted(config, "swarm.listen") or []),
            bootstrap=[] if "no-dial" in faults else list(get_dotted(config, "bootstrap.nodes") or []),
            log=log,
            on_message=self._on_swarm_message,
        )
        self.http = HttpServers(NodeApi(self).handle, log, "calimero_server")
        self._server_listen = list(get_dotted(config, "server.listen") or [])
        self._state_lock = threading.Lock()
        self._status = "starting"
        self._stopping = threading.Event()
        self._joins: dict[str, threading.Event] = {}
        self._sync_thread: threading.Thread | None = None

    def _make_auth(self, config: dict[str, Any]) -> AuthService:
        from . import auth as auth_module  # only embedded-auth nodes pay for this import
        from .auth import AdminAccount, AuthService

        section = get_dotted(config, "server.embedded_auth") or {}
        storage = (section.get("storage") or {}).get("type", "rocksdb")
        auth_dir = self.node_dir / str((section.get("storage") or {}).get("path", "auth"))
        persistent = storage != "memory"
        # the admin minted at init is kept in the node directory whatever the token storage
        admin = AdminAccount.load(auth_dir)
        from_env = auth_module.admin_from_env()
        if from_env is not None:
            try:
                admin = AdminAccount.create(*from_env)
            except auth_module.AuthSetupError as error:
                raise StartupError(str(error)) from None
            if persistent:
                auth_dir.mkdir(mode=0o700, exist_ok=True)
                admin.save(auth_dir)
        if admin is None:
            self.log.warn(auth_module.TARGET, "no admin account: every login will be refused")
        if persistent:
            auth_dir.mkdir(mode=0o700, exist_ok=True)
            secret = auth_module.load_or_create_secret(auth_dir)
        else:
            secret = os.urandom(32)
        jwt_section = section.get("jwt") or {}
        return AuthService(
            secret=secret,
            admin=admin,
            access_expiry=int(jwt_section.get("access_token_expiry", 3600)),
            refresh_expiry=int(jwt_section.get("refresh_token_expiry", 2592000)),
            log=self.log,
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            for text in self._server_listen:
                addr = Multiaddr.parse(text)
                try:
                    self.http.bind(addr.host, addr.port)
                except OSError as error:
                    if addr.protocol == "ip6" and error.errno in (97, 99):
                        self.log.warn("calimero_server", f"not listening on {addr.host}: {error}")
                        continue
                    raise StartupError(f"cannot listen on {text}: {error.strerror}") from None
            self.swarm.bind()
        except OSError as error:
            self.stop()
            raise StartupError(f"cannot listen on the swarm port: {error.strerror}") from None
        except (StartupError, ValueError):
            self.stop()
            raise
        self.http.start()
        self.swarm.start()
        self._sync_thread = threading.Thread(target=self._sync_loop, daemon=True)
        self._sync_thread.start()
        for text in self._server_listen:
            self.log.info("calimero_server", f"Server listening on {text}")
        self.log.info(TARGET, f"Peer ID: {self.peer_id}")

    def crash(self) -> NoReturn:
        """A simulated crash (exit code 3, no shutdown), as a merod that panics would."""
        self.log.error(TARGET, f"simulated fault ({FAULT_ENV}): crashing")
        os._exit(3)

    def mark_ready(self) -> None:
        with self._state_lock:
            if self._status == "starting":
                self._status = "ready"

    def readiness(self) -> str:
        with self._state_lock:
            return self._status

    def stop(self) -> None:
        with self._state_lock:
            self._status = "shutting_down"
        self._stopping.set()
        self.swarm.stop()
        self.http.close()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=1)

    # -- contexts -------------------------------------------------------------------------------
    def context_summary(self, context: Context) -> dict[str, Any]:
        return {
            "id": context.id,
            "applicationId": context.application_id,
            "contextStateHash": context.state_hash(),
            "memberPublicKey": context.member_public_key,
        }

    def execute(self, context_id: str, method: str, args: Any) -> Any:
        output, written = self.state.execute(context_id, method, args)
        if written:
            self.swarm.broadcast({"t": "ctx_delta", "ctx": context_id, "entries": written})
        return output

    def join_context(self, context_id: str) -> Context | None:
        existing = self.state.contexts.get(context_id)
        if existing is not None:
            return existing
        arrived = self._joins.setdefault(context_id, threading.Event())
        self.swarm.broadcast({"t": "ctx_query", "ctx": context_id})
        arrived.wait(JOIN_TIMEOUT)
        self._joins.pop(context_id, None)
        context = self.state.contexts.get(context_id)
        if context is not None:
            self.log.info(TARGET, f"Joined context {context_id}")
        return context

    def _state_message(self, context: Context) -> Message:
        return {"t": "ctx_state", "ctx": context.id, "app": context.application_id, "entries": context.entries}

    def _on_swarm_message(self, peer_id: str, message: Message) -> None:
        kind, context_id = message.get("t"), message.get("ctx")
        if not isinstance(context_id, str):
            return
        with self.state.lock:
            context = self.state.contexts.get(context_id)
            reply = self._state_message(context) if context is not None else None
            current_hash = context.state_hash() if context is not None else None
        asked = kind == "ctx_query" or (kind == "ctx_hash" and message.get("hash") != current_hash)
        if asked and reply is not None:
            self.swarm.send(peer_id, reply)
        elif kind in ("ctx_delta", "ctx_state"):
            entries = message.get("entries")
            if not isinstance(entries, dict):
                return
            pending = self._joins.get(context_id)
            if context is None and pending is not None and kind == "ctx_state":
                self.state.adopt_context(context_id, str(message.get("app")), entries)
                pending.set()
            elif context is not None and self.state.merge(context_id, entries):
                self.log.debug(SYNC_TARGET, f"context {context_id} updated from {peer_id}")

    def _sync_loop(self) -> None:
        """Periodic state sync, like merod's: announce each context's hash; a peer that differs
        answers with its state, and both sides merge until the hashes agree."""
        while not self._stopping.wait(self.sync_interval):
            with self.state.lock:
                hashes = [(cid, c.state_hash()) for cid, c in self.state.contexts.items()]
            for context_id, state_hash in hashes:
                self.swarm.broadcast({"t": "ctx_hash", "ctx": context_id, "hash": state_hash})
