"""Two Unix users on one machine: while root's session holds a cluster, a second user runs the
example suite on an overlapping port range. Both pass, and root's cluster still answers.

The second user cannot use this machine's Python (it lives under /root, mode 0700), so it runs the
distribution's /usr/bin/python3 with the project installed (non-editable) into a directory it can
read. Installing takes a few seconds and happens once per session."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from filelock import FileLock

from pytest_meronodes.ports import DEFAULT_REGISTRY
from tests.recovery.sessions import HoldingSession, alive, reservations_of
from tests.simhelpers import SIM

from .conftest import require_root

SECOND_USER = "meronodes-second"
SYSTEM_PYTHON = "/usr/bin/python3"
REPOSITORY = Path(__file__).resolve().parents[2]
# Root's cluster (3 nodes, 6 ports) takes part of the second user's range: the two sessions share
# one port registry, or they would hand out the same ports. Outside every range the suite uses.
FIRST_RANGE = "30600-30611"
SECOND_RANGE = "30600-30639"


@dataclass
class SecondUser:
    uid: int
    gid: int
    root: Path  # readable by the second user: site/ (the installed project), examples/, home/
    site: Path
    home: Path


def _readable_copy(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))


@pytest.fixture(scope="session")
def second_user() -> Iterator[SecondUser]:
    """A throwaway system user (created if missing, removed afterwards if created here) and a
    directory it can read with the project and its test dependencies installed."""
    require_root("running pytest as a second Unix user")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.fail(f"{SYSTEM_PYTHON} is missing: the second user needs a Python outside /root")
    # one such test at a time on this machine (the user and its state directory are shared); the
    # lock lives in root's own state directory, which the plugin keeps anyway
    ours = Path(tempfile.gettempdir()) / f"pytest-meronodes-{os.geteuid()}"
    ours.mkdir(mode=0o700, exist_ok=True)
    with FileLock(str(ours / "second-user-test.lock"), timeout=900):
        created = False
        try:
            entry = pwd.getpwnam(SECOND_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SECOND_USER],
                check=True, capture_output=True,
            )
            created = True
            entry = pwd.getpwnam(SECOND_USER)
        state = Path(tempfile.gettempdir()) / f"pytest-meronodes-{entry.pw_uid}"
        state_existed = os.path.lexists(state)
        root = Path(tempfile.mkdtemp(prefix="meronodes-second-user-"))
        try:
            root.chmod(0o755)
            source = root / "src"
            source.mkdir()
            for name in ("pyproject.toml", "README.md"):
                shutil.copy(REPOSITORY / name, source / name)
            for package in ("pytest_meronodes", "merod_sim"):  # the packages the distribution installs
                _readable_copy(REPOSITORY / package, source / package)
            site = root / "site"
            # this interpreter's pip (same minor version, same ABI as SYSTEM_PYTHON): Debian's
            # python3-pip may be missing
            installed = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location",
                 "--target", str(site), str(source), "pytest", "pytest-xdist"],
                capture_output=True, text=True, check=False, timeout=600,
                env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore", "PIP_BREAK_SYSTEM_PACKAGES": "1"},
            )
            assert installed.returncode == 0, installed.stdout + installed.stderr
            home = root / "home"
            home.mkdir()
            os.chown(home, entry.pw_uid, entry.pw_gid)
            yield SecondUser(entry.pw_uid, entry.pw_gid, root, site, home)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if not state_existed:
                shutil.rmtree(state, ignore_errors=True)
            if created:
                subprocess.run(["userdel", SECOND_USER], check=False, capture_output=True)


def _run_as(user: SecondUser, argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """argv as the second user, with an environment of its own (nothing of root's but TMPDIR, which
    decides where the machine-wide port registry is)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(user.home),
        "TMPDIR": tempfile.gettempdir(),
        "PYTHONPATH": str(user.site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _owned_by(uid: int, directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.json") if path.lstat().st_uid == uid)


def test_a_second_user_runs_the_examples_while_the_first_users_session_runs(
    tmp_path: Path, second_user: SecondUser
) -> None:
    examples = second_user.root / "examples"
    if examples.exists():
        shutil.rmtree(examples)
    _readable_copy(REPOSITORY / "examples", examples)
    first = HoldingSession(tmp_path, "first", [SIM, f"--node-port-range={FIRST_RANGE}"])
    try:
        held = first.info()

        completed = _run_as(
            second_user,
            [SYSTEM_PYTHON, "-m", "pytest", str(examples), "-p", "no:cacheprovider", "-q",
             SIM, f"--node-port-range={SECOND_RANGE}",
             f"--basetemp={second_user.home / 'basetemp'}"],
            cwd=examples, timeout=600,
        )
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, output
        assert "PermissionError" not in output
        assert " passed" in completed.stdout

        # the second user sees root's reservations as such, and none of root's runs
        listing = _run_as(second_user, [SYSTEM_PYTHON, "-m", "pytest_meronodes", "ps"], cwd=second_user.home,
                          timeout=60)
        assert listing.returncode == 0, listing.stdout + listing.stderr
        assert "reserved by another user (uid 0)" in listing.stdout
        assert held["run"] not in listing.stdout
        # the second user's state is its own, private
        state = Path(tempfile.gettempdir()) / f"pytest-meronodes-{second_user.uid}"
        info = state.lstat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (second_user.uid, 0o700)
        # it released every port it reserved; root's reservations are untouched
        assert _owned_by(second_user.uid, DEFAULT_REGISTRY) == []
        assert sorted(reservations_of(held["run"])) == sorted(held["ports"])
        # and root's cluster was not disturbed
        assert all(alive(pid) for pid in held["pids"])
        assert all(Path(home).is_dir() for home in held["homes"])
        assert [requests.get(url + "/admin-api/peers", timeout=5).json() for url in held["urls"]] == [
            {"count": 2}
        ] * 3
        assert first.release() == 0, first.output()
    finally:
        first.stop()
        # what a failed run of the second user may have left in the shared registry (the user goes)
        for name in _owned_by(second_user.uid, DEFAULT_REGISTRY):
            (DEFAULT_REGISTRY / name).unlink(missing_ok=True)

