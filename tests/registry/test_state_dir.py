"""The per-user state directory: created private, and refused with one clear error when it is
anything but a private directory of this user (another user's, a symbolic link, open to others)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import OTHER_UID, require_root


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """The most permissive umask: modes must not depend on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_per_user_directory_is_created_private(tmp_path: Path, umask_zero: None) -> None:
    from pytest_meronodes import state_dir

    runs, clusters = state_dir.runs_dir(tmp_path), state_dir.clusters_dir(tmp_path)
    user = tmp_path / f"pytest-meronodes-{os.geteuid()}"
    assert (runs, clusters) == (user / "runs", user / "clusters")
    for path in (user, runs, clusters):
        assert _mode(path) == 0o700, path
        assert os.lstat(path).st_uid == os.geteuid()


def test_the_default_follows_the_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_meronodes import state_dir
    from pytest_meronodes.ownership import new_owner
    from pytest_meronodes.runs import RunRegistry

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    registry = RunRegistry(None, new_owner())
    home = state_dir.clusters_dir() / "abc-c1"
    home.mkdir()
    registry.add_cluster("abc-c1", home)
    assert registry.path.parent == tmp_path / f"pytest-meronodes-{os.geteuid()}" / "runs"
    assert _mode(registry.path) == 0o600  # the record
    assert _mode(home / ".meronodes-cluster") == 0o600  # the marker
    assert json.loads((home / ".meronodes-cluster").read_text()) == {
        "run_id": registry.record.owner.run_id, "cluster_id": "abc-c1",
    }
    registry.remove_cluster("abc-c1")
    assert not registry.path.exists()


def _expect_refusal(tmp_path: Path, *fragments: str) -> str:
    from pytest_meronodes import state_dir
    from pytest_meronodes.errors import ConfigurationError

    with pytest.raises(state_dir.StateDirError) as raised:
        state_dir.runs_dir(tmp_path)
    message = str(raised.value)
    assert isinstance(raised.value, ConfigurationError)
    assert str(tmp_path / f"pytest-meronodes-{os.geteuid()}") in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_a_directory_of_another_uid_is_refused(tmp_path: Path) -> None:
    require_root("a directory owned by another uid")
    planted = tmp_path / f"pytest-meronodes-{os.geteuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, OTHER_UID, OTHER_UID)
    _expect_refusal(tmp_path, f"belongs to uid {OTHER_UID}", "remove it")
    assert not (planted / "runs").exists()


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)  # even one that is private and ours
    (tmp_path / f"pytest-meronodes-{os.geteuid()}").symlink_to(target, target_is_directory=True)
    _expect_refusal(tmp_path, "is a symbolic link", "remove it")
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777], ids=["0750", "0705", "0777"])
def test_a_directory_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    planted = tmp_path / f"pytest-meronodes-{os.geteuid()}"
    planted.mkdir()
    planted.chmod(mode)
    _expect_refusal(tmp_path, f"has mode {mode:04o}", f"chmod 700 {planted}")


def test_a_subdirectory_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    from pytest_meronodes import state_dir

    user = state_dir.user_dir(tmp_path)
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (user / "runs").symlink_to(target, target_is_directory=True)
    with pytest.raises(state_dir.StateDirError, match="runs is a symbolic link"):
        state_dir.runs_dir(tmp_path)


def test_a_record_that_is_a_symbolic_link_is_not_read(tmp_path: Path) -> None:
    from pytest_meronodes.runs import read_all

    runs = tmp_path / "runs"
    runs.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"owner": {"run_id": "x", "pid": 1, "started": "1"}, "clusters": {}}))
    (runs / "x.json").symlink_to(elsewhere)
    assert read_all(runs) == []
