"""`python -m pytest_meronodes reap --cluster ID`: an id it cannot act on is one message and exit
status 1, never a silent `removed 0 ...`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_meronodes.ownership import new_owner
from pytest_meronodes.runs import RunRegistry


def reap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_malformed_cluster_id_is_a_usage_error() -> None:
    result = reap("--cluster", "../../etc")
    assert result.returncode == 2
    assert ("argument --cluster: '../../etc' is not a cluster id (like 1b29bed7-c1, as ps and the "
            "kept-clusters summary print it)") in result.stderr


def test_an_unknown_cluster_is_named() -> None:
    result = reap("--cluster", "0badc0de-c7")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "python -m pytest_meronodes reap: no cluster '0badc0de-c7' in your runs or Docker resources; "
        "python -m pytest_meronodes ps lists them"
    )
    assert result.stdout == ""


def test_a_cluster_of_a_live_session_is_left_alone_and_says_so(tmp_path: Path) -> None:
    run = RunRegistry(None, new_owner())  # this test's process: a session that still runs
    cluster_id = f"{run.record.owner.run_id}-c999"
    directory = tmp_path / cluster_id
    directory.mkdir()
    run.add_cluster(cluster_id, directory)
    try:
        result = reap("--cluster", cluster_id)
    finally:
        run.remove_cluster(cluster_id)
    assert result.returncode == 1
    assert (f"cluster '{cluster_id}' belongs to a session that still runs (pid {run.record.owner.pid}, "
            f"run {run.record.owner.run_id}); left alone: stop that pytest first") in result.stderr
    assert directory.is_dir()
