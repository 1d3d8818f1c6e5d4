"""auth="proxy" on the binary backend: a real Traefik binary with the plugin's file provider in
front of native nodes, and the simulator's auth mode as the auth service."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.simhelpers import SIM_ARGS


def test_traefik_routes_native_nodes_behind_forward_auth(pytester: pytest.Pytester) -> None:
    if shutil.which("traefik") is None:
        reason = "traefik binary missing: pip install 'pytest-meronodes[proxy]'"
        if os.environ.get("CI"):  # in CI a skipped proxy test would hide an untested stack
            pytest.fail(reason)
        pytest.skip(reason)
    pytester.makepyfile(
        """
        import pytest
        import requests

        @pytest.mark.nodes(count=2, auth="proxy")
        def test_routes(cluster, tmp_path):
            node = cluster["node1"]
            host = {"Host": node.client.headers["Host"]}
            assert requests.get(node.url + "/admin-api/peers", headers=host).status_code == 401
            token = {**host, "Authorization": "Bearer " + node.client.token}
            assert requests.get(node.url + "/admin-api/peers", headers=token).json() == {"count": 1}
            assert requests.get(node.url + "/admin-dashboard/", headers=host).status_code == 200
            preflight = requests.options(node.url + "/jsonrpc", headers={
                **host, "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 200  # what merod's CORS layer answers
            app = tmp_path / "app.wasm"
            app.write_bytes(b"app")
            # the whole app flow through Traefik: namespace, invitation, joins, calls, sync
            ctx = cluster.shared_context(app)
            ctx.call("node1", "set", {"key": "k", "value": "7"})
            ctx.wait_for_sync()
            assert ctx.call("node2", "get", {"key": "k"}) == "7"
        """
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(passed=1)
    assert _processes_under(pytester.path) == []


def test_a_missing_traefik_binary_is_one_clear_error_and_starts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(node_cluster):\n    node_cluster(count=2, auth='proxy')\n")
    result = pytester.runpytest_subprocess(
        *SIM_ARGS, "--traefik-binary=/nonexistent/traefik"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Traefik binary '/nonexistent/traefik' not found*--traefik-binary*"])
    assert _processes_under(pytester.path) == []


def _processes_under(path: object) -> list[str]:
    """Processes whose command line mentions the inner session's directory."""
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if str(path) in line and "ps -eo" not in line]
