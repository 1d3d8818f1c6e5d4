"""Port reservations are machine-wide, so that two users' sessions never collide on a port; another
user's reservation is read-only data, counted as taken while its owner lives and after."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pytest_meronodes.errors import PortsUnavailableError
from pytest_meronodes.ownership import new_owner
from pytest_meronodes.ports import PortRegistry

from .conftest import OTHER_UID, dead_owner, require_root

LOW = 30700  # 4 ports below the ephemeral range, outside every range the suite allocates from
OURS = new_owner()  # this very process: alive
RANGE = (LOW, LOW + 3)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """Where the registry directory goes (the registry creates it)."""
    return tmp_path / "pytest-meronodes-ports"


@pytest.fixture
def umask_077() -> Iterator[None]:
    """The strictest usual umask: what other users must read and write must not depend on it."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _reserve_as(directory: Path, port: int, owner: Mapping[str, object], uid: int) -> Path:
    """A reservation as another user's session writes it: a file that user owns."""
    path = directory / f"{port}.json"
    path.write_text(json.dumps(dict(owner)))
    path.chmod(0o644)
    os.chown(path, uid, uid)
    return path


def test_the_shared_directory_is_usable_by_every_user(shared: Path, umask_077: None) -> None:
    registry = PortRegistry(RANGE, shared)
    ports = registry.allocate(2, OURS)
    info = os.lstat(shared)
    assert stat.S_ISDIR(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o1777  # sticky: only a file's owner removes it
    assert _mode(shared / ".lock") == 0o666
    assert all(_mode(shared / f"{port}.json") == 0o644 for port in ports)
    registry.release(ports, OURS)


def test_another_users_reservations_are_never_deleted_nor_handed_out_and_our_dead_ones_are(shared: Path) -> None:
    require_root("files owned by another uid")
    registry = PortRegistry(RANGE, shared)  # creates the directory
    dead = dead_owner("deadbeef")
    theirs_dead = _reserve_as(shared, LOW, dead, OTHER_UID)
    live_owner = OURS.as_dict() | {"run_id": "0ther0ne"}  # alive: this very process
    theirs_live = _reserve_as(shared, LOW + 1, live_owner, OTHER_UID)
    ours_dead = _reserve_as(shared, LOW + 2, dead_owner("5e1f0000"), os.geteuid())
    before = {path: path.read_text() for path in (theirs_dead, theirs_live)}

    assert registry.reclaim_dead() == [LOW + 2]  # our own dead reservation only
    assert not ours_dead.exists()
    assert sorted(registry.allocate(2, OURS)) == [LOW + 2, LOW + 3]
    with pytest.raises(PortsUnavailableError, match="2 by other users' sessions"):
        registry.allocate(1, OURS)
    registry.release([LOW, LOW + 1], OURS)  # not ours to release, whatever we ask

    assert {path: path.read_text() for path in (theirs_dead, theirs_live)} == before
    assert all(os.lstat(path).st_uid == OTHER_UID for path in before)
    registry.release([LOW + 2, LOW + 3], OURS)


def test_a_foreign_file_naming_our_owner_is_not_released_by_us(shared: Path) -> None:
    require_root("files owned by another uid")
    registry = PortRegistry(RANGE, shared)
    forged = _reserve_as(shared, LOW, OURS.as_dict(), OTHER_UID)
    assert LOW not in registry.reserved_by(OURS)
    registry.release([LOW], OURS)
    assert forged.exists()
    assert LOW not in registry.allocate(3, OURS)
    registry.release(registry.reserved_by(OURS), OURS)


def test_a_shared_directory_that_is_a_symbolic_link_is_refused(shared: Path, tmp_path: Path) -> None:
    from pytest_meronodes.state_dir import StateDirError

    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o1777)
    shared.symlink_to(target, target_is_directory=True)
    with pytest.raises(StateDirError, match="is a symbolic link"):
        PortRegistry(RANGE, shared)


def test_a_shared_directory_another_user_left_closed_is_refused(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_root("a directory owned by another uid")
    from pytest_meronodes import state_dir

    monkeypatch.setattr(state_dir, "SHARED_DIR_SETTLE", 0.2)
    shared.mkdir(mode=0o755)
    os.chown(shared, OTHER_UID, OTHER_UID)
    with pytest.raises(state_dir.StateDirError, match=r"has mode 0755 and belongs to uid 65534.*chmod 1777"):
        PortRegistry(RANGE, shared)


def test_the_default_registry_is_machine_wide_and_ps_shows_other_users_reservations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_root("files owned by another uid")
    from pytest_meronodes import state_dir
    from pytest_meronodes.reaper import describe

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("pytest_meronodes.reaper.engine_resources", list)
    registry = PortRegistry(RANGE)
    assert registry.directory == tmp_path / "pytest-meronodes-ports" == state_dir.ports_dir_path()
    _reserve_as(registry.directory, LOW, dead_owner("deadbeef"), OTHER_UID)
    # another user's run record, planted (by root) in our own runs directory: never ours to show
    runs = state_dir.runs_dir()
    record = runs / "0ther0ne.json"
    record.write_text(json.dumps({"owner": dead_owner("0ther0ne"), "clusters": {"0ther0ne-c1": {}}}))
    os.chown(record, OTHER_UID, OTHER_UID)

    listing = "\n".join(describe())
    assert f"ports {LOW} reserved by another user (uid {OTHER_UID})" in listing
    assert "0ther0ne" not in listing
    completed = subprocess.run(
        [sys.executable, "-m", "pytest_meronodes", "ps"], capture_output=True, text=True, check=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert f"reserved by another user (uid {OTHER_UID})" in completed.stdout
    assert "0ther0ne" not in completed.stdout
