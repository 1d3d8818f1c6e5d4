"""A run record is a claim, not a proof: the reaper signals only processes and deletes only
directories that prove they are the dead run's own, and ignores records of other users.

The forged records name things with a dead owner, which is what makes the reaper act: processes
that are not nodes of the run, directories that are not its cluster directories."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from pytest_meronodes.reaper import reap_local

from .conftest import (
    MARKER_ENV,
    OTHER_UID,
    dead_owner,
    forge_record,
    intact,
    precious_directory,
    process_entry,
    require_root,
    write_marker,
)

Start = Callable[..., "subprocess.Popen[bytes]"]


def _reap(runs: Path, tmp_path: Path) -> None:
    reap_local(runs_dir=runs, ports_dir=tmp_path / "no-ports")


def test_a_forged_record_for_a_foreign_process_and_directory_leaves_both_alone(
    runs: Path, tmp_path: Path, clusters_base: Path, start_process: Start
) -> None:
    victim = start_process()  # a process of ours, but not one the plugin started as a node
    # where a cluster directory would be, but without the plugin's marker
    unmarked = precious_directory(clusters_base / "f00dcafe-c1")
    forge_record(runs, dead_owner("f00dcafe"), {
        "f00dcafe-c1": {"directory": str(unmarked), "processes": [process_entry(victim)]},
    })

    _reap(runs, tmp_path)

    assert victim.poll() is None, "a process the record named but the plugin never started was killed"
    assert intact(unmarked), "a directory without the plugin's marker was deleted"


def test_a_marked_directory_outside_the_base_or_behind_a_symlink_or_of_another_cluster_survives(
    runs: Path, tmp_path: Path, clusters_base: Path
) -> None:
    run = "0badf00d"
    # a directory marked as the record's cluster, but outside any base directory of the plugin
    outside = precious_directory(tmp_path / "elsewhere" / f"{run}-c1")
    write_marker(outside, run, f"{run}-c1")
    # in the base directory, a symbolic link to a directory marked as the record's cluster
    target = precious_directory(tmp_path / "target")
    write_marker(target, run, f"{run}-c2")
    link = clusters_base / f"{run}-c2"
    link.symlink_to(target, target_is_directory=True)
    # in the base directory, marked, but as another run's cluster
    other = precious_directory(clusters_base / f"{run}-c3")
    write_marker(other, "feedface", "feedface-c3")
    forge_record(runs, dead_owner(run), {
        f"{run}-c1": {"directory": str(outside)},
        f"{run}-c2": {"directory": str(link)},
        f"{run}-c3": {"directory": str(other)},
    })

    _reap(runs, tmp_path)

    assert intact(outside), "a directory outside the run's base was deleted"
    assert link.is_symlink(), "a symbolic link was removed"
    assert intact(target), "a symbolic link was followed"
    assert intact(other), "a directory marked for another cluster was deleted"


def test_a_process_of_another_uid_survives_even_with_the_marker(
    runs: Path, tmp_path: Path, start_process: Start
) -> None:
    require_root("starting a process as another uid")
    run, cluster = "5ca1ab1e", "5ca1ab1e-c1"
    # another user can give their own process any environment, the plugin's marker included
    foreign = start_process(uid=OTHER_UID, env={MARKER_ENV: f"{run}/{cluster}"})
    assert os.stat(f"/proc/{foreign.pid}").st_uid == OTHER_UID
    forge_record(runs, dead_owner(run), {cluster: {"processes": [process_entry(foreign)]}})

    _reap(runs, tmp_path)

    assert foreign.poll() is None, "a process of another uid was killed"


def test_a_record_owned_by_another_uid_is_ignored_entirely(
    runs: Path, tmp_path: Path, clusters_base: Path, start_process: Start
) -> None:
    require_root("a file owned by another uid")
    run, cluster = "d15ea5e5", "d15ea5e5-c1"
    # everything it names would pass every check; only the record's owner is wrong
    node = start_process(env={MARKER_ENV: f"{run}/{cluster}"})
    home = precious_directory(clusters_base / cluster)
    write_marker(home, run, cluster)
    record = forge_record(runs, dead_owner(run), {
        cluster: {"directory": str(home), "processes": [process_entry(node)]},
    })
    os.chown(record, OTHER_UID, OTHER_UID)

    _reap(runs, tmp_path)

    assert node.poll() is None, "a process named by another uid's record was killed"
    assert intact(home), "a directory named by another uid's record was deleted"
    assert record.exists(), "another uid's record was removed"


def test_a_dead_runs_own_cluster_is_still_reaped(runs: Path, tmp_path: Path, start_process: Start) -> None:
    """The control: what the plugin itself recorded and marked goes, as before (here in a base
    directory of its own, as with --node-base-dir)."""
    from pytest_meronodes.ownership import Owner
    from pytest_meronodes.runs import CLUSTER_MARKER, RunRegistry, process_marker

    assert CLUSTER_MARKER == ".meronodes-cluster"  # what write_marker above forges
    owner = dead_owner("c0ffee00")
    registry = RunRegistry(runs, Owner(owner["run_id"], owner["pid"], owner["started"]))
    cluster = "c0ffee00-c1"
    home = tmp_path / "base" / cluster
    home.mkdir(parents=True)
    registry.add_cluster(cluster, home)
    (home / "node1").mkdir()
    (home / "node1" / "config.toml").write_text("")
    name, value = process_marker(cluster, owner["run_id"])
    assert (name, value) == (MARKER_ENV, f"{owner['run_id']}/{cluster}")
    node = start_process(env={name: value})
    registry.add_process(cluster, node.pid, "node node1")

    _reap(runs, tmp_path)

    assert node.wait(timeout=10) is not None
    assert not home.exists()
    assert not registry.path.exists()
