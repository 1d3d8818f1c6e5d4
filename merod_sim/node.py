"""A running simulated node: HTTP API, swarm, namespaces, contexts and their sync, lifecycle."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .faults import NO_FAULTS, Faults
from .http_types import Handler
from .logs import Logger
from .nodeconfig import Multiaddr, get_dotted
from .state import Context, Namespace, NodeState
from .swarm import Message, Swarm
from .web import HttpServers

if TYPE_CHECKING:
    from .auth import AuthService

RUN_TARGET = "calimero_node::run"
SYNC_TARGET = "calimero_node::sync"
CONTEXT_TARGET = "calimero_context"
# crates/context/src/handlers/join_context.rs: how long a context join waits for the context's
# namespace to be known locally before it fails (500 "Internal server error")
GROUP_LOOKUP_TIMEOUT = 30.0
FALLBACK_POLL = 0.2
MAX_RESYNC_BACKOFF = 5.0
# crates/node/src/sync/config.rs DEFAULT_NAMESPACE_DISCOVERY_WAIT_MS: how long a namespace join
# looks for a member to validate its invitation before it answers 504
NAMESPACE_DISCOVERY_WAIT = 45.0
NAMESPACE_DISCOVERY_WAIT_ENV = "MEROD_SIM_NAMESPACE_DISCOVERY_WAIT_MS"  # a knob for tests
MESH_RETRY_DELAY = 0.05
REJECTION_GRACE = 1.0  # after a member refuses the invitation, how long to wait for another
DATA_DIR_CHECK_INTERVAL = 5.0  # crates/merod/src/watchdog.rs


class StartupError(Exception):
    pass


class JoinError(Exception):
    """A namespace join that failed: `timeout` (no member reachable) or refused."""

    def __init__(self, timeout: bool) -> None:
        super().__init__("no member reachable" if timeout else "refused")
        self.timeout = timeout


class Node:
    def __init__(
        self,
        *,
        name: str,
        node_dir: Path,
        config: dict[str, Any],
        auth_mode: str,
        log: Logger,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self.name = name
        self.faults = faults  # the plugin's own tests inject them (faults.py)
        self.node_dir = node_dir
        self.log = log
        peer_id = get_dotted(config, "identity.peer_id")
        if not isinstance(peer_id, str):
            # merod's ConfigFile defaults a missing [identity] to a fresh key, for this run only
            from .identity import Identity

            peer_id = Identity.generate().peer_id
        self.peer_id: str = peer_id
        self.sync_interval = int(get_dotted(config, "sync.interval_ms") or 5000) / 1000
        self.data_dir = node_dir / str(get_dotted(config, "datastore.path") or "data")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        (node_dir / str(get_dotted(config, "blobstore.path") or "blobs")).mkdir(mode=0o700, exist_ok=True)
        self.state = NodeState(self.data_dir)
        self.syncs = faults.syncs_contexts()
        wait = os.environ.get(NAMESPACE_DISCOVERY_WAIT_ENV)
        self.discovery_wait = int(wait) / 1000 if wait and wait.isdigit() else NAMESPACE_DISCOVERY_WAIT
        self.auth = self._make_auth(config) if auth_mode == "embedded" else None
        self.swarm = Swarm(
            peer_id=self.peer_id,
            listen=list(get_dotted(config, "swarm.listen") or []),
            bootstrap=faults.bootstrap_to_dial(list(get_dotted(config, "bootstrap.nodes") or [])),
            log=log,
            on_message=self._on_swarm_message,
        )
        self.http: HttpServers | None = None  # serving the handler start() is given
        self._server_listen = list(get_dotted(config, "server.listen") or [])
        self._status_lock = threading.Lock()
        self._status = "starting"
        self._stopping = threading.Event()
        self._changed = threading.Condition()  # namespaces learned from peers
        self._joins: dict[str, dict[str, Any]] = {}  # nonce -> outcome of a namespace join
        self._phase: dict[str, str] = {}  # context -> sync phase while not initialised
        self._threads: list[threading.Thread] = []
        self._data_dir_identity: tuple[int, int] = (0, 0)

    def _make_auth(self, config: dict[str, Any]) -> AuthService:
        from . import auth as auth_module  # only embedded-auth nodes pay for this import

        section = get_dotted(config, "server.embedded_auth") or {}
        storage = section.get("storage") or {}
        persistent = storage.get("type", "rocksdb") != "memory"
        auth_dir = self.node_dir / str(storage.get("path", "auth"))
        admin = auth_module.AdminAccount.load(auth_dir) if persistent else None
        if admin is None:
            # mero-auth provisions the admin from the environment when the node has none yet
            try:
                from_env = auth_module.admin_from_env()
                if from_env is not None:
                    admin = auth_module.AdminAccount.create(*from_env)
                    self.log.info("mero_auth::provisioning",
                                  f"Provisioned the admin root key user={admin.username}")
                    self.log.info("mero_auth::provisioning",
                                  "Created the admin account from MERO_AUTH_ADMIN_USER/MERO_AUTH_ADMIN_PASSWORD")
                    if persistent:
                        auth_dir.mkdir(mode=0o700, exist_ok=True)
                        admin.save(auth_dir)
            except auth_module.AuthSetupError as error:
                raise StartupError(str(error)) from None
        if admin is None:
            self.log.info(
                "mero_auth::provisioning",
                "No account exists on this node yet — login is disabled until an admin account is "
                "provisioned. Re-run `merod init` with admin credentials, run `merod auth set-admin`, or "
                "set MERO_AUTH_ADMIN_USER and MERO_AUTH_ADMIN_PASSWORD (or MERO_AUTH_ADMIN_PASSWORD_FILE) "
                "and restart.",
            )
        if persistent:
            auth_dir.mkdir(mode=0o700, exist_ok=True)
            secret = auth_module.load_or_create_secret(auth_dir)
        else:
            secret = os.urandom(32)
        jwt_section = section.get("jwt") or {}
        return auth_module.AuthService(
            secret=secret,
            admin=admin,
            access_expiry=int(jwt_section.get("access_token_expiry", 3600)),
            refresh_expiry=int(jwt_section.get("refresh_token_expiry", 2592000)),
            log=self.log,
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, handle: Handler) -> None:
        """Serve `handle` (the HTTP API, which is built on this node) on every `server.listen`
        address, and join the swarm."""
        self.log.info(RUN_TARGET, f"Peer ID: {self.peer_id}")
        self.http = http = HttpServers(handle, self.log, "calimero_server")
        try:
            for text in self._server_listen:
                addr = Multiaddr.parse(text)
                try:
                    http.bind(addr.host, addr.port)
                except OSError as error:
                    if addr.protocol == "ip6" and error.errno in (97, 99):
                        self.log.warn("calimero_server", f"not listening on {addr.host}: {error}")
                        continue
                    raise StartupError(f"cannot listen on {text}: {error.strerror}") from None
            self.swarm.bind()
            stat = self.data_dir.stat()
            self._data_dir_identity = (stat.st_dev, stat.st_ino)
        except OSError as error:
            self.stop()
            raise StartupError(f"cannot listen on the swarm port: {error.strerror}") from None
        except (StartupError, ValueError):
            self.stop()
            raise
        http.start()
        self.swarm.start()
        self._spawn(self._sync_loop)

    def log_listening(self) -> None:
        for text in self._server_listen:
            for service, path in (("calimero_server::jsonrpc", "JSON RPC server listening on {}/http{{/jsonrpc}}"),
                                  ("calimero_server::ws", "WebSocket server listening on {}/ws{{/ws}}"),
                                  ("calimero_server::sse", "SSE server listening on {}/http{{/sse}}"),
                                  ("calimero_server::admin::service", "Admin API listening on {}/http{{/admin-api}}")):
                self.log.info(service, path.format(text))

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def mark_ready(self) -> None:
        with self._status_lock:
            if self._status == "starting":
                self._status = "ready"

    def readiness(self) -> str:
        with self._status_lock:
            return self._status

    def data_dir_problem(self) -> str | None:
        """merod's watchdog: the data directory it opened is gone or replaced."""
        try:
            now = self.data_dir.stat()
        except FileNotFoundError:
            return f"the data directory at {self.data_dir} is gone"
        except OSError:
            return None
        if (now.st_dev, now.st_ino) != self._data_dir_identity:
            return f"the data directory at {self.data_dir} is not the one this node opened; it was replaced"
        return None

    def stop(self) -> None:
        with self._status_lock:
            self._status = "shutting_down"
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        self.swarm.stop()
        if self.http is not None:
            self.http.close()
        for thread in self._threads:
            thread.join(timeout=1)

    # -- identity, namespaces -------------------------------------------------------------------
    def create_namespace(self, application_id: str, name: str | None) -> Namespace | None:
        with self.state.lock:
            app = self.state.applications.get(application_id)
            if app is None:
                return None
            namespace = self.state.new_namespace(app, name)
        self.log.info(CONTEXT_TARGET, f"Created namespace {namespace.id}")
        return namespace

    def member_namespace(self, namespace_id: str) -> Namespace | None:
        """A namespace this node is a member of."""
        with self.state.lock:
            namespace = self.state.namespaces.get(namespace_id)
            keys = self.state.keys
            if namespace is None or keys is None or keys.account_id not in namespace.members:
                return None
            return namespace

    def invitation(self, namespace_id: str, valid_for: int) -> dict[str, Any] | None:
        """A signed invitation to the namespace; None unless this node may invite (its admin)."""
        with self.state.lock:
            namespace = self.member_namespace(namespace_id)
            keys = self.state.keys
            if namespace is None or keys is None or namespace.admin != keys.account_id:
                return None
            from .serdejson import parse_hash

            invitation = {
                "inviter_identity": list(parse_hash(keys.public_key)),
                "group_id": list(bytes.fromhex(namespace.id)),
                "expiration_timestamp": int(time.time()) + valid_for,
                "secret_salt": list(secrets.token_bytes(32)),
                "invited_role": 1,
            }
            return {
                "invitation": invitation,
                "inviter_signature": secrets.token_hex(64),
                "inviter_account": keys.account_id,
                "application_id": list(parse_hash(namespace.application_id)),
                "app_key": list(bytes.fromhex(namespace.app_key)),
            }

    def join_namespace(self, namespace_id: str, invitation: dict[str, Any]) -> Namespace:
        """Reach a member over the swarm to validate the invitation; JoinError if none answers
        within the discovery deadline, or the invitation is refused."""
        keys = self.state.ensure_keys()
        existing = self.member_namespace(namespace_id)
        if existing is not None:
            return existing
        nonce = secrets.token_hex(8)
        outcome: dict[str, Any] = {"done": threading.Event()}
        self._joins[nonce] = outcome
        request = {"t": "ns_join", "ns": namespace_id, "nonce": nonce, "invitation": invitation,
                   "account": keys.account_id, "key": keys.public_key}
        deadline = time.monotonic() + self.discovery_wait
        try:
            while not self._stopping.is_set():
                if outcome.get("namespace") is not None:
                    break
                refused_at = outcome.get("refused_at")
                if refused_at is not None and time.monotonic() - refused_at > REJECTION_GRACE:
                    raise JoinError(timeout=False)
                if time.monotonic() >= deadline:
                    raise JoinError(timeout=True)
                self.swarm.broadcast(request)
                outcome["done"].wait(min(MESH_RETRY_DELAY * 2, max(deadline - time.monotonic(), 0.001)))
            else:
                raise JoinError(timeout=True)
        finally:
            self._joins.pop(nonce, None)
        record: dict[str, Any] = outcome["namespace"]
        application = outcome.get("application")
        with self.state.lock:
            namespace = Namespace.from_record(record)
            namespace.members[keys.account_id] = keys.public_key
            self.state.namespaces[namespace.id] = namespace
            if application is not None and application["id"] not in self.state.applications:
                # merod fetches the application's blob from the member; we record it
                from .state import Application

                self.state.applications[application["id"]] = Application(**application)
            self.state.save()
        self.log.info("calimero_server::admin::handlers::namespaces::join_namespace",
                      f"Joined namespace successfully namespace_id={namespace.id} member={keys.public_key}")
        self._notify()
        return namespace

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- contexts -------------------------------------------------------------------------------
    def create_context(self, application_id: str, namespace: Namespace) -> Context | None:
        with self.state.lock:
            app = self.state.applications.get(application_id)
            if app is None:
                return None
            context = self.state.new_context(app, namespace)
            announcement = self._namespace_update(namespace)
        self.log.info(CONTEXT_TARGET, f"Context created successfully context_id={context.id}")
        self.swarm.broadcast(announcement)
        return context

    def _group_of(self, context_id: str) -> str | None:
        with self.state.lock:
            keys = self.state.keys
            for namespace in self.state.namespaces.values():
                if context_id in namespace.contexts and keys is not None and keys.account_id in namespace.members:
                    return namespace.id
        return None

    def join_context(self, context_id: str) -> Context | None:
        """Join a context of a namespace this node is a member of; None when merod answers 500.

        merod waits up to GROUP_LOOKUP_TIMEOUT for the context->namespace mapping, syncing its
        known namespaces meanwhile, then fails. A join left waiting while the node joins the
        namespace fails too when the mapping lands (a real merod answers it 500; asked again, it
        joins)."""
        namespace_id = self._group_of(context_id)
        if namespace_id is None:
            self.log.warn(CONTEXT_TARGET,
                          f"context->group mapping missing locally; syncing known namespaces context_id={context_id}")
            deadline = time.monotonic() + GROUP_LOOKUP_TIMEOUT
            backoff, last_resync = FALLBACK_POLL, time.monotonic()
            self._sync_namespaces()
            while not self._stopping.is_set():
                with self._changed:
                    self._changed.wait(FALLBACK_POLL)
                if self._group_of(context_id) is not None:
                    self.log.error(f"{CONTEXT_TARGET}::handlers::join_context",
                                   f"Failed to join context via group context_id={context_id}: the namespace "
                                   "arrived while the join waited")
                    return None
                if time.monotonic() >= deadline:
                    break
                if time.monotonic() - last_resync >= backoff:
                    self._sync_namespaces()
                    last_resync = time.monotonic()
                    backoff = min(backoff * 2, MAX_RESYNC_BACKOFF)
            self.log.error(f"{CONTEXT_TARGET}::handlers::join_context",
                           f"Failed to join context via group context_id={context_id}: context does not belong to "
                           "any group")
            return None
        with self.state.lock:
            context = self.state.contexts.get(context_id)
            keys = self.state.ensure_keys()
            if context is None:
                namespace = self.state.namespaces[namespace_id]
                context = Context(context_id, namespace.application_id, namespace_id, keys.public_key)
                self.state.contexts[context_id] = context
                self._phase[context_id] = "waitingForPeers"
                self.state.save()
        self.log.info(CONTEXT_TARGET, f"joined context via group membership context_id={context_id}")
        return context

    def _sync_namespaces(self) -> None:
        with self.state.lock:
            known = list(self.state.namespaces)
        if known:
            self.swarm.broadcast({"t": "ns_sync", "ns": known})

    def sync_phase(self, context: Context) -> str:
        if context.initialized:
            return "idle"
        return self._phase.get(context.id, "waitingForPeers")

    def record_write(self, context: Context, writes: dict[str, str | None]) -> Message | None:
        """A write made by execute: a delta on this node's heads; returns the message that
        propagates it to the members (to send once the state lock is released)."""
        with self.state.lock:
            delta = context.write(writes, self.state.ensure_keys().public_key)
            self.state.save()
        if not self.syncs:
            return None
        return {"t": "deltas", "ctx": context.id, "deltas": [delta], "init": False}

    # -- the swarm ------------------------------------------------------------------------------
    def _namespace_update(self, namespace: Namespace) -> Message:
        return {"t": "ns_update", "ns": namespace.id, "namespace": namespace.record()}

    def _on_swarm_message(self, peer_id: str, message: Message) -> None:
        kind = message.get("t")
        handler = _HANDLERS.get(str(kind))
        if handler is not None:
            try:
                handler(self, peer_id, message)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                self.log.debug(SYNC_TARGET, f"ignored a malformed {kind} message from {peer_id}: {error!r}")

    def _on_ns_join(self, peer_id: str, message: Message) -> None:
        namespace = self.member_namespace(str(message["ns"]))
        if namespace is None:
            return
        invitation = message["invitation"]
        payload = invitation.get("invitation") or {}
        problem = None
        if bytes(payload.get("group_id") or []).hex() != namespace.id:
            problem = "invitation is for another namespace"
        elif invitation.get("inviter_account") not in namespace.members:
            problem = "the inviter is not a member of this namespace"
        elif int(payload.get("expiration_timestamp") or 0) < time.time():
            problem = "invitation expired"
        if problem is not None:
            self.swarm.send(peer_id, {"t": "ns_join_rejected", "ns": namespace.id, "nonce": message["nonce"],
                                      "reason": problem})
            return
        with self.state.lock:
            namespace.members[str(message["account"])] = str(message["key"])
            application = self.state.applications.get(namespace.application_id)
            self.state.save()
            update = self._namespace_update(namespace)
            reply = {"t": "ns_joined", "ns": namespace.id, "nonce": message["nonce"],
                     "namespace": namespace.record(), "application": vars(application) if application else None}
        self.swarm.send(peer_id, reply)
        self.swarm.broadcast(update)

    def _on_ns_joined(self, _peer_id: str, message: Message) -> None:
        outcome = self._joins.get(str(message["nonce"]))
        if outcome is not None and outcome.get("namespace") is None:
            outcome["application"] = message.get("application")
            outcome["namespace"] = message["namespace"]
            outcome["done"].set()

    def _on_ns_join_rejected(self, _peer_id: str, message: Message) -> None:
        outcome = self._joins.get(str(message["nonce"]))
        if outcome is not None and "refused_at" not in outcome:
            outcome["refused_at"] = time.monotonic()
            self.log.warn(CONTEXT_TARGET, f"namespace join rejected: {message.get('reason')}")

    def _on_ns_sync(self, peer_id: str, message: Message) -> None:
        for namespace_id in message["ns"]:
            namespace = self.member_namespace(str(namespace_id))
            if namespace is not None:
                with self.state.lock:
                    update = self._namespace_update(namespace)
                self.swarm.send(peer_id, update)

    def _on_ns_update(self, _peer_id: str, message: Message) -> None:
        namespace = self.member_namespace(str(message["ns"]))
        if namespace is None:
            return
        with self.state.lock:
            changed = namespace.merge(message["namespace"])
            if changed:
                self.state.save()
        if changed:
            self._notify()

    def _member_context(self, message: Message) -> Context | None:
        if not self.syncs:
            return None
        return self.state.contexts.get(str(message["ctx"]))

    def _on_sync_req(self, peer_id: str, message: Message) -> None:
        with self.state.lock:
            context = self._member_context(message)
            if context is None or not context.initialized:
                return
            if list(message.get("heads") or []) == context.heads():
                return
            inventory = {"t": "sync_inv", "ctx": context.id, "ids": sorted(context.deltas)}
        self.swarm.send(peer_id, inventory)

    def _on_sync_inv(self, peer_id: str, message: Message) -> None:
        with self.state.lock:
            context = self._member_context(message)
            if context is None:
                return
            theirs = set(message["ids"])
            missing = sorted(theirs - set(context.deltas))
            extra = [delta for delta_id, delta in context.deltas.items() if delta_id not in theirs]
            if not missing and not context.initialized:
                context.initialized = True
                self.state.save()
        if missing:
            self.swarm.send(peer_id, {"t": "delta_req", "ctx": context.id, "ids": missing})
        if extra and context.initialized:
            self.swarm.send(peer_id, {"t": "deltas", "ctx": context.id, "deltas": extra, "init": True})

    def _on_delta_req(self, peer_id: str, message: Message) -> None:
        with self.state.lock:
            context = self._member_context(message)
            if context is None or not context.initialized:
                return
            deltas = [context.deltas[i] for i in message["ids"] if i in context.deltas]
        self.swarm.send(peer_id, {"t": "deltas", "ctx": context.id, "deltas": deltas, "init": True})

    def _on_deltas(self, peer_id: str, message: Message) -> None:
        with self.state.lock:
            context = self._member_context(message)
            if context is None:
                return
            if not context.initialized and not message.get("init"):
                return  # a joiner takes its state from a sync, not from propagated writes
            added = [context.add(delta) for delta in message["deltas"]]
            first_sync = not context.initialized
            context.initialized = True
            if any(added) or first_sync:
                self.state.save()
        if first_sync:
            self.log.info(SYNC_TARGET, f"context {context.id} initialised from {peer_id}")
        elif any(added):
            self.log.debug(SYNC_TARGET, f"context {context.id} updated from {peer_id}")

    def _sync_loop(self) -> None:
        """merod's periodic sync, every `sync.interval_ms`: each context asks its peers for what
        it lacks (a joiner gets its whole state on its first sync), and each namespace refreshes
        its members and contexts."""
        while not self._stopping.wait(self.sync_interval):
            with self.state.lock:
                requests = [{"t": "sync_req", "ctx": cid, "heads": c.heads()}
                            for cid, c in self.state.contexts.items()]
                pending = [cid for cid, c in self.state.contexts.items() if not c.initialized]
            self._sync_namespaces()
            if not self.syncs:
                continue
            has_peers = bool(self.swarm.peers())
            for context_id in pending:
                self._phase[context_id] = "syncing" if has_peers else "waitingForPeers"
            for request in requests:
                self.swarm.broadcast(request)


_HANDLERS = {
    "ns_join": Node._on_ns_join,
    "ns_joined": Node._on_ns_joined,
    "ns_join_rejected": Node._on_ns_join_rejected,
    "ns_sync": Node._on_ns_sync,
    "ns_update": Node._on_ns_update,
    "sync_req": Node._on_sync_req,
    "sync_inv": Node._on_sync_inv,
    "delta_req": Node._on_delta_req,
    "deltas": Node._on_deltas,
}
