"""NodeClient: a requests.Session bound to one node, authenticated when the node needs it, with
the Calimero app flow as typed calls.

Tokens come from /auth/token with the cluster's admin credentials, travel as Bearer tokens, are
refreshed when the node answers `token_expired`, and are obtained anew when the refresh fails.
A token never sits in a variable of a frame a traceback could show: requests carry it through
an auth object whose repr hides it, and transport errors are re-raised as the node's own error,
without the chain of urllib3 exceptions (and their locals) behind them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests

from .errors import (
    ContextNotReadyError,
    NodeApiError,
    NodeAuthError,
    NodeError,
    NodeRequestError,
    NodeTimeoutError,
    NodeUnreachableError,
    RpcError,
)
from .records import (
    Application,
    ContextInfo,
    CreatedContext,
    JoinedContext,
    Namespace,
    NamespaceMembership,
    NodeIdentity,
    SyncStatus,
)
from .redact import SecretBody
from .versions import Feature, MerodVersionError

if TYPE_CHECKING:
    from .runtime import Liveness

REQUEST_TIMEOUT = 30.0
# merod waits up to 30 s for a context's namespace to reach it before it answers a join, and a
# namespace join first has to discover a member to talk to
JOIN_TIMEOUT = 60.0
# execute errors that mean "not yet", never "the application failed"
NOT_READY_ERRORS = ("Uninitialized", "GroupKeyPending")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


class _Bearer(requests.auth.AuthBase):
    """One access token, attached by requests itself; its repr (what `pytest -l` prints) hides it."""

    def __init__(self, token: str, generation: int) -> None:
        self._token = token
        self.generation = generation

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"<bearer token #{self.generation}>"


def initialization_bytes(params: bytes | Mapping[str, Any] | None) -> list[int]:
    """`initializationParams` is a byte array: the JSON arguments of the application's init."""
    if params is None:
        return []
    raw = params if isinstance(params, bytes) else json.dumps(params, separators=(",", ":")).encode()
    return list(raw)


class NodeClient(requests.Session):
    def __init__(
        self,
        name: str,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        host_header: str | None = None,
        auth_path: str = "/auth",
        liveness: Liveness | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.credentials = credentials
        self.auth_path = auth_path
        if host_header:
            self.headers["Host"] = host_header  # routing by Host through a local proxy
        self._bearer: _Bearer | None = None
        self._refresh_token: str | None = None
        self._generation = 0
        self._token_lock = threading.Lock()
        # why the node cannot answer (exited, with code and log, or stopped on purpose), if it cannot
        self.liveness = liveness

    def __repr__(self) -> str:
        return f"NodeClient({self.name!r}, {self.base_url!r})"

    # -- plumbing -------------------------------------------------------------------------------
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return self._request(method, url, *args, **kwargs)
        except NodeError:
            raise  # ours already (a nested call's), named and clean
        except requests.RequestException as error:
            # only words leave this block: no frame a traceback shows (`pytest -l` prints their
            # locals) holds the transport exception or its chain
            kind = "timeout" if isinstance(error, requests.Timeout) and not isinstance(
                error, requests.ConnectTimeout) else "connection" if isinstance(error, requests.ConnectionError) else ""
            cause = _cause(error) if kind else f"{type(error).__name__}: {_cause(error)}"
        raise self._transport_failure(str(method), str(url), kind, cause, kwargs.get("timeout", REQUEST_TIMEOUT))

    def _transport_failure(self, method: str, url: str, kind: str, cause: str, timeout: object) -> NodeError:
        """What a failed request means: a node that died or was stopped says so (name, exit code,
        log tail); otherwise the call, and how it failed, in one line."""
        gone = self.liveness.gone() if self.liveness is not None else None
        if gone is not None:
            return gone  # the node's own error: it died, or a test stopped it
        path = urlsplit(url).path or url
        if kind == "timeout":
            return NodeTimeoutError(self.name, f"{method} {path}: no answer within {timeout} s")
        if kind == "connection":
            return NodeUnreachableError(self.name, f"{method} {path}: cannot connect to {self.base_url.rstrip('/')}"
                                        f" ({cause})")
        return NodeRequestError(self.name, f"{method} {path}: {cause}")

    def _request(
        self, method: str | bytes, url: str | bytes, *args: Any, public: bool = False, **kwargs: Any
    ) -> requests.Response:
        """`public=True`: a route that needs no token (health, ready), so none is fetched for it."""
        target = urljoin(self.base_url, str(url).lstrip("/")) if "://" not in str(url) else str(url)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        if public or self.credentials is None or self._is_auth_route(target):
            return super().request(method, target, *args, **kwargs)
        # a token can go stale between taking it and the node checking it (another thread renewed
        # it, which revokes the old one): renew or take the newer one, and ask again
        attempts = 3
        for attempt in range(attempts):
            bearer = self._current_bearer()
            response = super().request(method, target, *args, **{**kwargs, "auth": bearer})
            if not self._stale_token(response) or attempt == attempts - 1:
                break
            self._renew_token(response, bearer)
        return response

    @staticmethod
    def _stale_token(response: requests.Response) -> bool:
        """401 (expired, or unknown to a node that restarted) or 403 `token_revoked`: a new token
        fixes it. A 403 for a missing permission does not."""
        if response.status_code == 401:
            return True
        return response.status_code == 403 and response.headers.get("X-Auth-Error") == "token_revoked"

    def get_public(self, url: str, **kwargs: Any) -> requests.Response:
        """GET a route that needs no token (health, ready): none is obtained for it."""
        return self.request("GET", url, public=True, **kwargs)

    def _is_auth_route(self, url: str) -> bool:
        return urlsplit(url).path.startswith(self.auth_path + "/")

    # -- tokens ---------------------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The current access token (for tests that need the raw token), obtaining one if needed."""
        if self.credentials is None:
            return None
        return self._current_bearer()._token

    def _current_bearer(self) -> _Bearer:
        with self._token_lock:
            if self._bearer is None:
                self._obtain_token()
            assert self._bearer is not None
            return self._bearer

    def _client_name(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if isinstance(host, str) else self.base_url.rstrip("/")

    def _install(self, data: Mapping[str, Any]) -> None:
        self._generation += 1
        self._bearer = _Bearer(str(data["access_token"]), self._generation)
        self._refresh_token = str(data["refresh_token"])

    def _obtain_token(self) -> None:
        assert self.credentials is not None
        body = SecretBody({
            "auth_method": "user_password",
            "public_key": self.credentials.username,
            "client_name": self._client_name(),
            "timestamp": int(time.time()),
            "permissions": ["admin"],
            "provider_data": {"username": self.credentials.username, "password": self.credentials.password},
        })
        response = self.post(f"{self.auth_path}/token", json=body)
        if response.status_code != 200:
            raise NodeAuthError(
                self.name, f"could not obtain a token: HTTP {response.status_code} {response.text[:200]}"
            )
        self._install(response.json()["data"])

    def _renew_token(self, refused: requests.Response, used: _Bearer) -> None:
        """Once per stale token, whatever the number of threads that saw it refused: refresh an
        expired one (falling back to a new login), log in anew otherwise."""
        with self._token_lock:
            if self._bearer is not used:
                return  # another thread renewed it meanwhile
            if refused.headers.get("X-Auth-Error") == "token_expired" and self._refresh_token is not None:
                response = self.post(
                    f"{self.auth_path}/refresh",
                    json=SecretBody(access_token=used._token, refresh_token=self._refresh_token),
                )
                if response.status_code == 200:
                    self._install(response.json()["data"])
                    return
            self._obtain_token()

    # -- checked calls --------------------------------------------------------------------------
    def _json(self, response: requests.Response, what: str) -> Any:
        if response.status_code == 401 or (
            response.status_code == 403 and response.headers.get("X-Auth-Error")
        ):
            raise NodeAuthError(
                self.name, f"{what}: HTTP {response.status_code} {response.headers.get('X-Auth-Error', '')}".rstrip()
            )
        if response.status_code != 200:
            raise NodeApiError(self.name, what, status=response.status_code, body=response.text)
        return response.json()

    def _data(self, response: requests.Response, what: str) -> Any:
        return self._json(response, what)["data"]

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self._data(self.get_public("/admin-api/health"), "health")
        return data

    def peers_count(self, timeout: float = REQUEST_TIMEOUT) -> int:
        return int(self._json(self.get("/admin-api/peers", timeout=timeout), "peers")["count"])

    def identity(self) -> NodeIdentity | None:
        """The node's account and device keys; None until the node first takes part in a
        namespace (merod answers 404 before that)."""
        response = self.get("/admin-api/identity")
        if response.status_code == 404:
            return None
        data = self._data(response, "identity")
        if not isinstance(data, Mapping) or "accountId" not in data:
            feature = Feature.IDENTITY_KEYS
            raise MerodVersionError(
                f"identity() needs merod >= {feature.since} ({feature.what}); node {self.name!r} answered "
                f"{sorted(data) if isinstance(data, Mapping) else data!r}: use a newer merod"
            )
        return NodeIdentity.from_api(data)

    # -- applications ---------------------------------------------------------------------------
    def applications(self) -> list[Application]:
        data = self._data(self.get("/admin-api/applications"), "applications")
        return [Application.from_api(app) for app in data.get("apps", [])]

    def install_dev_application(self, path: str, metadata: list[Any] | None = None) -> str:
        """Install an application from a file the NODE can read (see Node.install_dev_application
        for a file of yours); return its id, the same on every node for the same file."""
        body = {"path": str(path), "metadata": metadata or []}
        response = self.post("/admin-api/install-dev-application", json=body)
        return str(self._data(response, "install-dev-application")["applicationId"])

    # -- namespaces -----------------------------------------------------------------------------
    def create_namespace(self, application_id: str, *, name: str | None = None) -> str:
        """A namespace for the application, with this node as its first member; returns its id."""
        body: dict[str, Any] = {"applicationId": application_id}
        if name is not None:
            body["name"] = name
        return str(self._data(self.post("/admin-api/namespaces", json=body), "create namespace")["namespaceId"])

    def namespaces(self) -> list[Namespace]:
        return [Namespace.from_api(item) for item in self._data(self.get("/admin-api/namespaces"), "namespaces")]

    def get_namespace(self, namespace_id: str) -> Namespace:
        return Namespace.from_api(self._data(self.get(f"/admin-api/namespaces/{namespace_id}"), "get namespace"))

    def invite_to_namespace(self, namespace_id: str) -> dict[str, Any]:
        """A signed invitation, to hand as it is to the joining node's `join_namespace`."""
        data = self._data(self.post(f"/admin-api/namespaces/{namespace_id}/invite", json={}), "invite to namespace")
        invitation: dict[str, Any] = data["invitation"]
        return invitation

    def join_namespace(
        self, namespace_id: str, invitation: Mapping[str, Any], *, timeout: float = JOIN_TIMEOUT
    ) -> NamespaceMembership:
        """Join a namespace with an invitation from one of its members (merod reaches a member over
        the swarm first, which may take a while)."""
        response = self.post(f"/admin-api/namespaces/{namespace_id}/join", json={"invitation": dict(invitation)},
                             timeout=timeout)
        return NamespaceMembership.from_api(self._data(response, "join namespace"))

    # -- contexts -------------------------------------------------------------------------------
    def create_context(
        self,
        application_id: str,
        namespace_id: str,
        *,
        initialization_params: bytes | Mapping[str, Any] | None = None,
    ) -> CreatedContext:
        """A context of the application in the namespace (merod >= 0.11.0-rc.1: contexts live in
        namespaces). `initialization_params`: the JSON arguments of the app's init, or raw bytes."""
        body = {
            "applicationId": application_id,
            "groupId": namespace_id,
            "initializationParams": initialization_bytes(initialization_params),
        }
        return CreatedContext.from_api(self._data(self.post("/admin-api/contexts", json=body), "create context"))

    def join_context(self, context_id: str, *, timeout: float = JOIN_TIMEOUT) -> JoinedContext:
        """Join a context of a namespace this node has joined already. merod answers a join
        only once the node knows the context's namespace, so the wait is long by default."""
        try:
            response = self.post(f"/admin-api/contexts/{context_id}/join", json={}, timeout=timeout)
        except NodeTimeoutError:
            pass
        else:
            return JoinedContext.from_api(self._data(response, "join context"))
        raise NodeTimeoutError(
            self.name,
            f"join context {context_id}: no answer within {timeout:g} s. merod answers a context join only "
            f"once this node is a member of the context's namespace: join_namespace(namespace_id, invitation) "
            f"first (cluster.shared_context(...) does the whole flow)",
        )

    def contexts(self) -> list[ContextInfo]:
        data = self._data(self.get("/admin-api/contexts"), "contexts")
        return [ContextInfo.from_api(item) for item in data.get("contexts", [])]

    def get_context(self, context_id: str) -> ContextInfo:
        return ContextInfo.from_api(self._data(self.get(f"/admin-api/contexts/{context_id}"), "get context"))

    def context_state_hash(self, context_id: str) -> str | None:
        return self.get_context(context_id).state_hash

    # -- JSON-RPC -------------------------------------------------------------------------------
    def rpc(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One JSON-RPC 2.0 call; the whole envelope (merod answers HTTP 200 with errors inside)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": dict(params)}
        envelope: dict[str, Any] = self._json(self.post("/jsonrpc", json=body), method)
        return envelope

    def execute(self, context_id: str, method: str, args: Mapping[str, Any] | None = None, **extra: Any) -> Any:
        """Call `method` of the context's application and return its output. An error envelope
        raises RpcError; ContextNotReadyError when the node has not synced the context yet."""
        envelope = self.rpc("execute", {"contextId": context_id, "method": method, "argsJson": dict(args or {}),
                                        **extra})
        error = envelope.get("error")
        if error is not None:
            if isinstance(error, Mapping) and error.get("type") in NOT_READY_ERRORS:
                raise ContextNotReadyError(
                    self.name, method, dict(error),
                    hint=f"the node has joined context {context_id} but has not synced it yet; wait for sync "
                         f"(SharedContext.wait_for_sync, cluster.wait_for_context_sync) and call again",
                )
            raise RpcError(self.name, method, dict(error) if isinstance(error, Mapping) else {"data": error})
        return envelope["result"]["output"]

    def sync_status(self, context_id: str) -> SyncStatus:
        envelope = self.rpc("sync_status", {"contextId": context_id})
        if envelope.get("error") is not None:
            raise RpcError(self.name, "sync_status", dict(envelope["error"]))
        return SyncStatus.from_api(envelope["result"])


def _cause(error: BaseException) -> str:
    """The innermost reason (e.g. `Connection refused`), without urllib3's wrapping."""
    while error.__context__ is not None or error.__cause__ is not None or error.args:
        inner = error.__cause__ or error.__context__
        if inner is None and error.args and isinstance(error.args[0], BaseException):
            inner = error.args[0]
        if inner is None:
            break
        error = inner
    text = str(error)
    # urllib3: "<urllib3.connection.HTTPConnection object at 0x..>: Failed to establish ...: [Errno 111] ..."
    return text.split(">: ", 1)[-1] if ">: " in text else text
