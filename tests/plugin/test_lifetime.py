"""How long nodes live: until their cluster stops or the pytest process dies, whichever thread
started them, and through a pipe (`merod run --exit-on-eof`) where the merod release has it."""

from __future__ import annotations

import pytest

from tests.simhelpers import SIM

from .support import Inner

CMDLINE = """
from pathlib import Path

import pytest

@pytest.fixture
def cmdline():
    def argv(node):
        return Path(f"/proc/{node.runtime.pid}/cmdline").read_bytes().split(b"\\0")[:-1]
    return argv
"""


def test_clusters_started_from_a_thread_pool_outlive_the_pool(inner: Inner) -> None:
    inner.conftest(CMDLINE)
    inner.pytester.makepyfile(
        """
        import subprocess
        from concurrent.futures import ThreadPoolExecutor

        import pytest

        def test_pool(node_cluster):
            with ThreadPoolExecutor(max_workers=2) as pool:
                clusters = list(pool.map(lambda _: node_cluster(count=2), range(2)))
            # the pool's threads have exited: nodes forked from them must not have died with them
            for cluster in clusters:
                for node in cluster:
                    with pytest.raises(subprocess.TimeoutExpired):
                        node.runtime._popen.wait(timeout=1)  # still running a second later
                cluster.wait_for_mesh(timeout=10)
                assert [node.client.health() for node in cluster] == [{"status": "alive"}] * 2
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    inner.assert_nothing_left()


def test_nodes_hold_a_pipe_to_pytest_where_the_release_has_exit_on_eof(inner: Inner) -> None:
    inner.conftest(CMDLINE)
    inner.pytester.makepyfile(
        """
        import os

        def test_pipe(node_cluster, cmdline):
            node = node_cluster(count=1)[0]
            argv = cmdline(node)
            assert argv[-3:] == [b"run", b"--exit-on-eof", b"0"], argv
            stdin = os.readlink(f"/proc/{node.runtime.pid}/fd/0")
            assert stdin.startswith("pipe:"), stdin
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_an_older_release_runs_without_exit_on_eof(inner: Inner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEROD_SIM_VERSION", "0.11.0-rc.22")
    inner.conftest(CMDLINE)
    inner.pytester.makepyfile(
        """
        def test_no_pipe(node_cluster, cmdline):
            node = node_cluster(count=1)[0]
            assert cmdline(node)[-1] == b"run"
            assert node.client.health() == {"status": "alive"}
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_kept_nodes_hold_no_pipe(inner: Inner) -> None:
    """A node that may be kept after pytest exits must not die with it."""
    inner.conftest(CMDLINE)
    inner.pytester.makepyfile(
        """
        def test_kept(node_cluster, cmdline):
            node = node_cluster(count=1)[0]
            assert cmdline(node)[-1] == b"run"
            node.stop()
        """
    )
    result = inner.run(SIM, "--keep-nodes-on-failure")
    result.assert_outcomes(passed=1)
