"""NodeClient: a requests.Session bound to one node, authenticated when the node needs it.

Tokens come from /auth/token with the cluster's admin credentials, travel as Bearer tokens, are
refreshed when the node answers `token_expired`, and are obtained anew when the refresh fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from .errors import NodeApiError, NodeAuthError, NodeError, RpcError
from .redact import register

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __post_init__(self) -> None:
        register(self.password)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


class NodeClient(requests.Session):
    def __init__(
        self,
        name: str,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        host_header: str | None = None,
        auth_path: str = "/auth",
    ) -> None:
        super().__init__()
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.credentials = credentials
        self.auth_path = auth_path
        if host_header:
            self.headers["Host"] = host_header  # routing by Host through a local proxy
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._token_lock = threading.Lock()
        # set by the Node: raises a NodeError (name, exit code, log tail) when the node has died
        self.liveness: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"NodeClient({self.name!r}, {self.base_url!r})"

    # -- plumbing -------------------------------------------------------------------------------
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return self._request(method, url, *args, **kwargs)
        except requests.ConnectionError as error:
            # a refused connection to a node that died says why: name, exit code, log tail
            if self.liveness is not None:
                try:
                    self.liveness()
                except NodeError as dead:
                    raise dead from error
            raise

    def _request(
        self, method: str | bytes, url: str | bytes, *args: Any, public: bool = False, **kwargs: Any
    ) -> requests.Response:
        """`public=True`: a route that needs no token (health, ready), so none is fetched for it."""
        target = urljoin(self.base_url, str(url).lstrip("/")) if "://" not in str(url) else str(url)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        if public or self.credentials is None or self._is_auth_route(target):
            return super().request(method, target, *args, **kwargs)
        self._ensure_token()
        response = super().request(method, target, *args, **self._with_token(kwargs))
        if response.status_code == 401 and response.headers.get("X-Auth-Error") == "token_expired":
            self._renew_token()
            response = super().request(method, target, *args, **self._with_token(kwargs))
        return response

    def get_public(self, url: str, **kwargs: Any) -> requests.Response:
        """GET a route that needs no token (health, ready): none is obtained for it."""
        return self.request("GET", url, public=True, **kwargs)

    def _is_auth_route(self, url: str) -> bool:
        return urlsplit(url).path.startswith(self.auth_path + "/")

    def _with_token(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        headers = dict(kwargs.get("headers") or {})
        headers["Authorization"] = f"Bearer {self._access_token}"
        return {**kwargs, "headers": headers}

    # -- tokens ---------------------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The current access token (for tests that need the raw token), obtaining one if needed."""
        if self.credentials is not None:
            self._ensure_token()
        return self._access_token

    def _ensure_token(self) -> None:
        with self._token_lock:
            if self._access_token is None:
                self._obtain_token()

    def _client_name(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if isinstance(host, str) else self.base_url.rstrip("/")

    def _obtain_token(self) -> None:
        assert self.credentials is not None
        body = {
            "auth_method": "user_password",
            "public_key": self.credentials.username,
            "client_name": self._client_name(),
            "timestamp": int(time.time()),
            "permissions": ["admin"],
            "provider_data": {"username": self.credentials.username, "password": self.credentials.password},
        }
        response = self.post(f"{self.auth_path}/token", json=body)
        if response.status_code != 200:
            raise NodeAuthError(
                self.name, f"could not obtain a token: HTTP {response.status_code} {response.text[:200]}"
            )
        data = response.json()["data"]
        self._access_token, self._refresh_token = data["access_token"], data["refresh_token"]

    def _renew_token(self) -> None:
        with self._token_lock:
            response = self.post(
                f"{self.auth_path}/refresh",
                json={"access_token": self._access_token, "refresh_token": self._refresh_token},
            )
            if response.status_code == 200:
                data = response.json()["data"]
                self._access_token, self._refresh_token = data["access_token"], data["refresh_token"]
            else:
                self._obtain_token()

    # -- checked calls --------------------------------------------------------------------------
    def _json(self, response: requests.Response, what: str) -> Any:
        if response.status_code == 401 or (
            response.status_code == 403 and response.headers.get("X-Auth-Error")
        ):
            raise NodeAuthError(
                self.name, f"{what}: HTTP {response.status_code} {response.headers.get('X-Auth-Error', '')}"
            )
        if response.status_code != 200:
            raise NodeApiError(self.name, what, status=response.status_code, body=response.text)
        return response.json()

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self.get_public("/admin-api/health"), "health")["data"]
        return data

    def peers_count(self, timeout: float = REQUEST_TIMEOUT) -> int:
        return int(self._json(self.get("/admin-api/peers", timeout=timeout), "peers")["count"])

    def identity(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self.get("/admin-api/identity"), "identity")["data"]
        return data

    def applications(self) -> list[dict[str, Any]]:
        data = self._json(self.get("/admin-api/applications"), "applications")["data"]
        return list(data.get("apps", []))

    def install_dev_application(self, path: str, metadata: list[Any] | None = None) -> str:
        body = {"path": str(path), "metadata": metadata or []}
        response = self.post("/admin-api/install-dev-application", json=body)
        return str(self._json(response, "install-dev-application")["data"]["applicationId"])

    def create_context(self, application_id: str, **extra: Any) -> dict[str, Any]:
        body = {"applicationId": application_id, **extra}
        data: dict[str, Any] = self._json(self.post("/admin-api/contexts", json=body), "create context")["data"]
        return data

    def join_context(self, context_id: str, **extra: Any) -> dict[str, Any]:
        response = self.post(f"/admin-api/contexts/{context_id}/join", json=extra or {})
        data: dict[str, Any] = self._json(response, "join context")["data"]
        return data

    def contexts(self) -> list[dict[str, Any]]:
        data = self._json(self.get("/admin-api/contexts"), "contexts")["data"]
        return list(data.get("contexts", []))

    def get_context(self, context_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self.get(f"/admin-api/contexts/{context_id}"), "get context")["data"]
        return data

    def context_state_hash(self, context_id: str) -> str | None:
        context = self.get_context(context_id)
        value = context.get("contextStateHash", context.get("rootHash"))
        return str(value) if value is not None else None

    def execute(self, context_id: str, method: str, args: dict[str, Any] | None = None, **extra: Any) -> Any:
        """Call `method` of the context's application; raise RpcError on an error envelope."""
        params = {"contextId": context_id, "method": method, "argsJson": args or {}, **extra}
        body = {"jsonrpc": "2.0", "id": 1, "method": "execute", "params": params}
        envelope = self._json(self.post("/jsonrpc", json=body), f"execute {method}")
        if envelope.get("error") is not None:
            raise RpcError(self.name, method, envelope["error"])
        return envelope["result"]["output"]
