"""Threads sharing one NodeClient across a token's renewal: the interleaving that once surfaced
`403 token_revoked` (1-2 calls in ~1,200), forced step by step against a small fake node."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_meronodes.client import Credentials, NodeClient


class FakeNode:
    """Issues tokens a1, a2, ...; a refresh revokes the token it renews (merod does the same). The
    first request that carries a held token waits until `release` is set."""

    def __init__(self) -> None:
        self.issued = 0
        self.expired: set[str] = set()
        self.revoked: set[str] = set()
        self.hold: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def tokens(self) -> dict[str, Any]:
        with self.lock:
            self.issued += 1
            return {"data": {"access_token": f"a{self.issued}", "refresh_token": f"r{self.issued}"}, "error": None}

    def peers(self, token: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            held = token == self.hold
            if held:
                self.hold = None
        if held:
            self.holding.set()
            self.release.wait(10)
        with self.lock:
            if token in self.revoked:
                return 403, {"X-Auth-Error": "token_revoked"}, b""
            if token in self.expired:
                return 401, {"X-Auth-Error": "token_expired"}, b""
            return 200, {"Content-Type": "application/json"}, b'{"count":0}'


@pytest.fixture
def fake() -> Iterator[tuple[FakeNode, str]]:
    node = FakeNode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/auth/refresh":
                with node.lock:
                    node.revoked.add(request["access_token"])
            self._answer(200, {"Content-Type": "application/json"}, json.dumps(node.tokens()).encode())

        def do_GET(self) -> None:
            self._answer(*node.peers(self.headers["Authorization"].removeprefix("Bearer ")))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for serve_forever to look up: every 0.5 s by default, 0.02 s here
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield node, f"http://127.0.0.1:{server.server_port}"
    finally:
        node.release.set()
        server.shutdown()
        thread.join()


def test_a_call_made_with_a_token_another_thread_renewed_meanwhile_is_retried(fake: tuple[FakeNode, str]) -> None:
    node, url = fake
    client = NodeClient("node1", url, Credentials("admin", "a-password-of-some-length"))
    assert client.peers_count() == 0  # logged in: a1
    node.expired.add("a1")
    node.hold = "a1"
    outcome: dict[str, object] = {}

    def slow_caller() -> None:  # sends a1, answered only after the other thread renewed it
        try:
            outcome["count"] = client.peers_count()
        except Exception as error:  # pragma: no cover - the failure this test guards against
            outcome["error"] = error

    slow = threading.Thread(target=slow_caller)
    slow.start()
    assert node.holding.wait(10)
    assert client.peers_count() == 0  # a1 expired: refreshed to a2, which revokes a1
    node.release.set()  # the held request is now judged: a1 was revoked -> 403 token_revoked
    slow.join(10)

    assert outcome == {"count": 0}
    assert node.issued == 2, "renewed once, not once per thread"
    assert client.token == "a2"
