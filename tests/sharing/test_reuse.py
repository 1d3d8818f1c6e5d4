"""--reuse-nodes: a session cluster outlives its session, the next session with the same cluster
takes it (after the reset hook), one that stopped working is replaced, and ps/reap show and
remove it. Each test asks for clusters with names of its own: a kept cluster is found by its
spec, by every session of this user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.plugin.support import (
    Inner,
    assert_nothing_left,
    recording_merod,
    reservations_held_by,
    stop_pids,
    wait_until_gone,
)
from tests.simhelpers import SIM

CONFTEST = """
@pytest.fixture(scope="session")
def kept(node_cluster_factory):
    return node_cluster_factory(count=COUNT, names=NAMES)


def pytest_meronodes_reset_cluster(cluster):
    append_record({"reset": cluster.id, "by": os.getpid()})
"""
TEST = """
import pytest
from pytest_meronodes.errors import FaultUnavailableError

def test_uses_it(kept, record):
    record(kept)
    assert [node.client.peers_count() for node in kept] == [len(kept) - 1] * len(kept)
    with pytest.raises(FaultUnavailableError, match="kept for reuse"):
        kept[0].stop()
"""


def ps() -> str:
    return subprocess.run([sys.executable, "-m", "pytest_meronodes", "ps"], capture_output=True, text=True,
                          timeout=60, check=True).stdout


def reap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def nothing_left(inner: Inner) -> None:
    """Once the kept clusters are reaped: no process, home or port reservation of the sessions is left
    (a session that started a kept cluster holds its ports until it ends: that is what keeps them)."""
    assert_nothing_left(inner.base_dir, inner.records())
    assert reservations_held_by(inner.session_pids()) == []


def session(inner: Inner, count: int, names: list[str], *args: str) -> dict[str, object]:
    """One session with --reuse-nodes; the record of its test."""
    inner.conftest(CONFTEST.replace("COUNT", str(count)).replace("NAMES", repr(names)))
    inner.pytester.makepyfile(test_reuse=TEST)
    before = len(inner.records())
    result = inner.run(SIM, "--reuse-nodes", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*left running for reuse (--reuse-nodes)*"])
    return inner.records()[before]


def test_the_next_session_takes_the_cluster_and_resets_it(inner: Inner) -> None:
    names = ["reuse-a1", "reuse-a2", "reuse-a3"]
    first = session(inner, 3, names)
    try:
        assert not [line for line in inner.lines() if "reset" in line], "a new cluster is not reset"
        assert f"cluster {first['cluster']} [kept for reuse" in ps()

        second = session(inner, 3, names)
        assert (second["cluster"], second["node_pids"]) == (first["cluster"], first["node_pids"])
        assert [line["reset"] for line in inner.lines() if "reset" in line] == [first["cluster"]]

        # another cluster (fewer nodes) is another key: not this one
        other = session(inner, 2, names[:2])
        assert other["cluster"] != first["cluster"]
        assert reap("--cluster", str(other["cluster"])).returncode == 0
    finally:
        reaped = reap("--cluster", str(first["cluster"]))
    assert reaped.returncode == 0, reaped.stderr
    assert all(wait_until_gone(int(pid), 10) for pid in first["node_pids"])  # type: ignore[attr-defined]
    assert str(first["cluster"]) not in ps()
    nothing_left(inner)


def test_a_kept_cluster_that_stopped_working_is_replaced(inner: Inner) -> None:
    names = ["reuse-b1", "reuse-b2"]
    first = session(inner, 2, names)
    pids = [int(pid) for pid in first["node_pids"]]  # type: ignore[attr-defined]
    try:
        os.kill(pids[0], signal.SIGKILL)
        assert wait_until_gone(pids[0], 10)
        second = session(inner, 2, names)
        assert second["cluster"] != first["cluster"]
        assert wait_until_gone(pids[1], 10), "the broken cluster's other node was removed too"
        assert not [line for line in inner.lines() if "reset" in line]
        assert str(first["cluster"]) not in ps()
        assert reap("--cluster", str(second["cluster"])).returncode == 0
    finally:
        stop_pids(pids, str(inner.base_dir))
    nothing_left(inner)


def test_reap_leaves_a_cluster_in_use_alone(inner: Inner) -> None:
    """A session that holds a kept cluster: `reap --cluster` refuses, the session still works."""
    names = ["reuse-c1"]
    first = session(inner, 1, names)
    inner.pytester.makepyfile(
        test_reuse=TEST + """

def test_reap_refuses(kept):
    import subprocess, sys
    done = subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", kept.id],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "a running session uses it" in done.stderr, done
    assert kept[0].client.health()
"""
    )
    result = inner.run(SIM, "--reuse-nodes")
    result.assert_outcomes(passed=2)
    assert reap("--cluster", str(first["cluster"])).returncode == 0
    nothing_left(inner)


def test_a_cluster_on_another_merod_supersedes_the_kept_one(inner: Inner) -> None:
    """A rebuilt merod (here: another program) is another key: its session starts a new cluster, and
    the kept one of the same spec, which no session would take again, is removed."""
    names = ["reuse-d1"]
    first = session(inner, 1, names)
    merod = recording_merod(inner.pytester.path / "merod", inner.pytester.path / "calls.txt")
    second = session(inner, 1, names, f"--merod-binary={merod}")
    try:
        assert second["cluster"] != first["cluster"]
        assert all(wait_until_gone(int(pid), 10) for pid in first["node_pids"])  # type: ignore[attr-defined]
        assert str(first["cluster"]) not in ps()
    finally:
        assert reap("--cluster", str(second["cluster"])).returncode == 0
    nothing_left(inner)


def test_a_panic_an_earlier_session_saw_does_not_fail_the_next_one(inner: Inner) -> None:
    names = ["reuse-e1"]
    inner.conftest(CONFTEST.replace("COUNT", "1").replace("NAMES", repr(names)))
    inner.pytester.makepyfile(test_panics="""
import os
import pytest

@pytest.mark.allow_panics
def test_provokes_a_panic(kept, record):
    record(kept)
    with open(kept[0].log_path, "a") as log:
        log.write("thread 'tokio-runtime-worker' panicked at crates/node/src/sync.rs:42:9:\\n")

def test_after_it(kept):
    assert kept[0].client.health()
""")
    inner.run(SIM, "--reuse-nodes", "-k", "provokes").assert_outcomes(passed=1)
    [record] = inner.records()
    try:
        # the next session takes the cluster whose log holds a panic: only panics during its tests count
        inner.run(SIM, "--reuse-nodes", "-k", "after_it").assert_outcomes(passed=1)
        # and a panic during one of its tests still fails that test
        inner.pytester.makepyfile(test_again="""
def test_panics_without_allowing_it(kept):
    with open(kept[0].log_path, "a") as log:
        log.write("thread 'main' panicked at src/main.rs:1:1:\\n")
""")
        again = inner.run(SIM, "--reuse-nodes", "test_again.py")
        again.assert_outcomes(failed=1)
        again.stdout.fnmatch_lines(["*logged a panic during the test*"])
    finally:
        reap("--cluster", str(record["cluster"]))
    nothing_left(inner)
