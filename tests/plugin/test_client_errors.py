"""What a test sees when a call to a node fails: the node's own error, alone (no chain of transport
exceptions), never a token (not even in `pytest -l`'s frame locals), and an auth error only when
the client cannot recover from it."""

from __future__ import annotations

import re

import pytest

from tests.simhelpers import SIM

from .support import Inner, fake_merod


def test_a_call_to_a_dead_node_shows_the_nodes_error_alone_and_no_token(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import os
        import signal

        def test_dead(node_cluster):
            cluster = node_cluster(count=1, auth="embedded")
            node = cluster[0]
            print("TOKEN-SIGNATURE", node.client.token.rsplit(".", 1)[1])
            os.kill(node.runtime.pid, signal.SIGKILL)
            node.runtime._popen.wait()
            node.client.peers_count()
        """
    )
    result = inner.run(SIM, "-l", "--tb=long", "-s")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    [signature] = re.findall(r"TOKEN-SIGNATURE (\S+)", output)
    assert "NodeGoneError: node 'node1': node exited (exit code -9)" in output
    assert "--- last lines of node1's log ---" in output
    assert "During handling of the above exception" not in output
    assert "The above exception was the direct cause" not in output
    assert "urllib3.exceptions" not in output
    assert "MaxRetryError" not in output
    assert "NewConnectionError" not in output
    # the token is printed by the test itself once, and nowhere in the failure report
    assert output.count(signature) == 1
    assert "Bearer" not in output


def test_a_node_stopped_on_purpose_says_so_and_by_which_test(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest
        import requests

        @pytest.fixture(scope="session")
        def shared(node_cluster_factory):
            return node_cluster_factory(count=2)

        def test_a_stops_a_node(shared):
            shared["node2"].stop()
            assert shared["node1"].client.health() == {"status": "alive"}

        def test_b_calls_it(shared):
            try:
                shared["node2"].client.peers_count()
            except requests.ConnectionError:  # code that catches requests' errors keeps working
                raise

        def test_c_catches_it(shared):
            with pytest.raises(requests.ConnectionError):
                shared["node2"].client.health()
        """
    )
    result = inner.run(SIM, "--tb=short")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*NodeGoneError: node 'node2': this node was stopped on purpose "
        "(node.stop() by test_a_node_stopped_on_purpose_says_so_and_by_which_test.py::test_a_stops_a_node) "
        "and no longer answers*",
    ])
    assert "During handling of the above exception" not in result.stdout.str()


def test_threads_sharing_a_client_across_token_expiries_see_no_auth_error(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import time
        from concurrent.futures import ThreadPoolExecutor

        def test_threads(node_cluster):
            # tokens live 1 s: the calls below span several expiries and refreshes
            cluster = node_cluster(count=1, auth="embedded",
                                   config={"server.embedded_auth.jwt.access_token_expiry": 1})
            client = cluster[0].client
            deadline = time.monotonic() + 4

            def hammer(_):
                calls = 0
                while time.monotonic() < deadline:
                    assert client.peers_count() == 0
                    calls += 1
                return calls

            with ThreadPoolExecutor(max_workers=8) as pool:
                calls = sum(pool.map(hammer, range(8)))
            assert calls > 200, calls
            assert client._generation > 2, "the token was never renewed: the test proves nothing"
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_no_password_in_frame_locals_when_merod_init_fails_under_embedded_auth(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = inner.pytester.path / "password-seen-by-init"
    merod = fake_merod(inner.pytester.path / "merod", "open(os.environ['SEEN'], 'w').write(sys.stdin.read())\n"
                       "sys.exit(1)", instead_of="init")
    monkeypatch.setenv("SEEN", str(seen))
    inner.pytester.makepyfile("def test_init_fails(node_cluster):\n    node_cluster(count=1, auth='embedded')\n")
    result = inner.run(f"--merod-binary={merod}", "-l", "-vv", "--tb=long")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NodeStartError: node 'node1': merod init failed (exit code 1)*"])
    password = seen.read_text().strip()
    assert len(password) >= 16
    assert password not in result.stdout.str()
    inner.assert_nothing_left()


def test_no_password_in_frame_locals_when_a_login_is_refused(inner: Inner, monkeypatch: pytest.MonkeyPatch) -> None:
    # from the environment, as a remote password comes: a literal would show in the quoted source
    monkeypatch.setenv("REMOTE_PASSWORD", "correct-horse-battery-staple")
    inner.pytester.makepyfile(
        """
        import os
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        from pytest_meronodes import Credentials, NodeClient

        class Busy(BaseHTTPRequestHandler):
            def do_POST(self):  # every login: too many requests
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(429)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        def test_login(tmp_path):
            server = HTTPServer(("127.0.0.1", 0), Busy)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            client = NodeClient("remote1", f"http://127.0.0.1:{server.server_port}",
                                Credentials("admin", os.environ["REMOTE_PASSWORD"]))
            try:
                client.peers_count()
            finally:
                server.shutdown()
        """
    )
    result = inner.run("-l", "-vv", "--tb=long")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NodeAuthError: node 'remote1': could not obtain a token: HTTP 429*"])
    assert "correct-horse-battery-staple" not in result.stdout.str()
