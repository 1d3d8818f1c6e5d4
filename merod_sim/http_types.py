"""Transport-neutral HTTP requests and responses (kept apart from http.server, which is slow to
import and needed only by a running node)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_ip: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def host(self) -> str:
        """The host name the client addressed (a proxy's X-Forwarded-Host wins), without port."""
        value = self.header("x-forwarded-host") or self.header("host") or ""
        value = value.split(",")[0].strip()
        if value.startswith("["):
            return value[1 : value.find("]")].lower()
        return value.rsplit(":", 1)[0].lower() if value.count(":") == 1 else value.lower()


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def error(cls, status: int, message: str) -> HttpResponse:
        """merod's ApiError: `{"error": message}`."""
        return cls.json(status, {"error": message})

    @classmethod
    def text(cls, status: int, message: str) -> HttpResponse:
        """A plain-text body (axum's rejections, and errors handlers answer as a string)."""
        return cls(status, message.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})

    @classmethod
    def empty(cls, status: int, headers: dict[str, str] | None = None) -> HttpResponse:
        """A bare status, no body (axum's 404 and 405, the auth guard's refusals)."""
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[HttpRequest], HttpResponse]

# merod's CorsLayer (crates/server/src/lib.rs build_cors_layer) answering a preflight
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST,GET,DELETE,PUT,OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Allow-Private-Network": "true",
    "Vary": "origin, access-control-request-method, access-control-request-headers",
}
