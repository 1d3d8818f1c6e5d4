"""A small HTTP layer over http.server: transport-neutral requests and responses, and servers
that bind every listen address of a node and shut down promptly."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .http_types import Handler, HttpRequest, HttpResponse
from .logs import Logger


def _request_handler_class(handle: Handler, log: Logger, target: str) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients with sessions expect
        # headers and body go out in two writes: with Nagle on, a keep-alive client waits ~40 ms
        # for the second one (delayed ACK) on every request after its first
        disable_nagle_algorithm = True
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
