"""Clusters kept for debugging: where their files live (nowhere pytest rotates them away), which
clusters `--keep-nodes-on-failure` keeps, and how `reap --cluster` removes them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.simhelpers import SIM, SIM_ARGS

from .support import Inner, kept_nodes, stop_pids


def plain_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest without --basetemp, so it uses (and rotates) its numbered temporary directories the
    way a developer's runs do."""
    return pytester.run(sys.executable, "-m", "pytest", *SIM_ARGS, *args, timeout=240)


def test_a_kept_cluster_keeps_its_files_while_pytest_rotates_its_temporary_directories(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DEBUG_TEMPROOT", str(pytester.mkdir("temproot")))
    pytester.makepyfile(
        test_keep="def test_keep(node_cluster):\n    node_cluster(count=1, auth='embedded')\n",
        test_other="def test_other(tmp_path):\n    assert tmp_path.is_dir()\n",
    )
    result = plain_session(pytester, "--keep-nodes", "test_keep.py")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    [node] = kept_nodes(output)
    cluster_id = re.search(r"cluster (\S+) left running", output)
    assert cluster_id is not None, output
    try:
        token_file = Path(re.findall(r"\$\(cat (\S+)\)", output)[0])
        # the summary says where the cluster's files are; pytest's temporary directories are elsewhere
        result.stdout.fnmatch_lines([f"*files in {node.home.parent}*"])
        assert "temproot" not in str(node.home)
        for _ in range(4):  # pytest keeps its 3 most recent temporary directories
            plain_session(pytester, "test_other.py").assert_outcomes(passed=1)

        assert node.home.is_dir()
        assert (node.home.parent / "node1.log").is_file()
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        assert requests.get(node.url + "/admin-api/peers", headers=headers, timeout=10).json() == {"count": 0}

        reaped = subprocess.run(
            [sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", cluster_id.group(1)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert reaped.returncode == 0, reaped.stderr
        assert not node.home.parent.exists()
    finally:
        stop_pids([node.pid], str(node.home.parent))


def test_keep_nodes_on_failure_keeps_a_session_cluster_a_failed_test_used(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        def shared(node_cluster_factory):
            return node_cluster_factory(count=1, names=["shared"])

        @pytest.fixture(scope="session")
        def unused_by_failures(node_cluster_factory):
            return node_cluster_factory(count=1, names=["spare"])

        def test_passes(unused_by_failures):
            assert unused_by_failures[0].client.health()

        def test_fails(shared):
            assert False, "the session cluster's state explains this failure"
        """
    )
    result = inner.run(SIM, "--keep-nodes-on-failure")
    result.assert_outcomes(passed=1, failed=1)
    kept = kept_nodes(result.stdout.str())
    try:
        assert [node.name for node in kept] == ["shared"]
        assert requests.get(kept[0].url + "/admin-api/health", timeout=10).status_code == 200
    finally:
        stop_pids([node.pid for node in kept], str(inner.base_dir))
