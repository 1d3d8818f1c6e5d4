"""Tokens and passwords never reach report sections or error messages; token files are 0600."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_meronodes.runs import read_all
from tests.simhelpers import SIM_ARGS


def test_a_token_in_a_nodes_log_is_redacted_in_the_report(pytester: pytest.Pytester) -> None:
    secrets_file = pytester.path / "secrets.txt"
    pytester.makepyfile(
        f"""
        import requests

        def test_leaks_into_the_log(node_cluster):
            cluster = node_cluster(count=1, auth="embedded", log_level="debug")
            node = cluster[0]
            token = node.client.token
            open({str(secrets_file)!r}, "w").write(token + "\\n" + node.client.credentials.password)
            # the debug log records the request line, query string and all
            assert requests.get(node.url + "/admin-api/peers?token=" + token).status_code == 200
            assert False, "fail, so the log tail is reported"
        """
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(failed=1)
    token, password = secrets_file.read_text().splitlines()
    output = result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*meronodes: log of node1*", "*GET /admin-api/peers?token=<redacted token>*"])
    assert token not in output
    assert password not in output


def test_a_kept_clusters_token_files_are_private(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fails(node_cluster):
            node_cluster(count=1, auth="embedded")
            assert False
        """
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS, "--keep-nodes-on-failure")
    result.assert_outcomes(failed=1)
    lines = [line for line in result.stdout.lines if "token (valid" in line]
    assert len(lines) == 1
    token_file = Path(lines[0].split("$(cat ")[1].split(")")[0])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() not in result.stdout.str()
    cluster = next(
        cid for _, record in read_all() for cid, c in record.clusters.items() if c.directory and
        Path(c.directory) == token_file.parent
    )
    subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", cluster], check=True,
                   capture_output=True)
    assert not token_file.parent.exists()


def _listening(ports: set[int]) -> list[str]:
    """host:port of every listening TCP socket on one of `ports`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            host_hex, port_hex = address.split(":")
            if state == "0A" and int(port_hex, 16) in ports:  # 0A: LISTEN
                found.append(f"{host_hex}:{int(port_hex, 16)}")
    return found


def test_native_nodes_listen_on_loopback_only(pytester: pytest.Pytester) -> None:
    ports_file = pytester.path / "ports.txt"
    pytester.makepyfile(
        f"""
        def test_ports(node_cluster):
            cluster = node_cluster(count=2, auth="proxy")
            ports = [p for node in cluster for p in (node.rpc_port, node.swarm_port)]
            open({str(ports_file)!r}, "w").write(" ".join(map(str, ports)) + " " + cluster[0].url.rsplit(":", 1)[1])
            import time
            from pathlib import Path
            Path({str(ports_file)!r} + ".ready").touch()
            deadline = time.monotonic() + 60
            while not Path({str(ports_file)!r} + ".done").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        """
    )
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", *SIM_ARGS, str(pytester.path)],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        ready = Path(f"{ports_file}.ready")
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert session.poll() is None, session.communicate()[0].decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ports = {int(p) for p in ports_file.read_text().split()}
        sockets = _listening(ports)
        assert len(sockets) == len(ports)  # 2 servers, 2 swarms and Traefik's entry point
        assert all(s.startswith("0100007F:") for s in sockets), sockets  # 127.0.0.1, little-endian hex
    finally:
        Path(f"{ports_file}.done").touch()
        assert session.wait(timeout=60) == 0, session.communicate()[0].decode()
