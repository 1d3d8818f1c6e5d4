"""Tokens and passwords never reach report sections or error messages; token files are 0600."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_meronodes.runs import read_all


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
    result = pytester.runpytest_subprocess("--merod-binary=sim", "-p", "no:cacheprovider")
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
    result = pytester.runpytest_subprocess("--merod-binary=sim", "-p", "no:cacheprovider", "--keep-nodes-on-failure")
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
