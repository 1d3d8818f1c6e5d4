"""A small HTTP layer over http.server: transport-neutral requests and responses, and servers
that bind every listen address of a node and shut down promptly."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .logs import Logger


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
        return cls.json(status, {"error": message})


Handler = Callable[[HttpRequest], HttpResponse]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
}


def _request_handler_class(handle: Handler, log: Logger, target: str) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients with sessions expect
        server_version = "merod-sim"
        timeout = 60  # idle keep-alive connections do not pin a thread forever

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = HttpRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                client_ip=self.client_address[0],
            )
            try:
                response = handle(request)
            except Exception as error:  # a bug in the simulator must not kill the connection
                log.error(target, f"{self.command} {parts.path} failed: {error!r}")
                response = HttpResponse.error(500, "internal error")
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(target, format % args)

    return RequestHandler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpServers:
    """One ThreadingHTTPServer per listen address, served from background threads."""

    def __init__(self, handle: Handler, log: Logger, target: str) -> None:
        self._handler_class = _request_handler_class(handle, log, target)
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    def bind(self, host: str, port: int) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._servers.append(server_class((host, port), self._handler_class))

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=1)
        self._servers.clear()
        self._threads.clear()
