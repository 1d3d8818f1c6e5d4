"""Where pytest-meronodes keeps its state on this machine, checked so that a machine shared by
several Unix users is safe for each of them.

- `<tmp>/pytest-meronodes-<uid>/` (mode 0700, this user's alone): `runs/`, the records the reaper
  acts on, and `clusters/`, node homes. Nobody else can write there, so no other user can forge a
  record or plant a home; an existing one is used only if it is a real directory of ours that
  nobody else can enter.
- `<tmp>/pytest-meronodes-ports/` (mode 1777, like /tmp): every user's port reservations, so that
  two users' sessions never hand out the same port. The sticky bit lets only a file's owner remove
  it; what another user reserved is read, never touched.

`<tmp>` is `tempfile.gettempdir()` ($TMPDIR, else /tmp): users who share the port registry must
share it too."""

from __future__ import annotations

import itertools
import os
import stat
import tempfile
import time
from pathlib import Path

import filelock
from filelock import FileLock

from .errors import ConfigurationError

PRIVATE_MODE = 0o700
SHARED_MODE = stat.S_ISVTX | 0o777  # 1777: everybody creates files, only their owner removes them
LOCK_MODE = 0o666  # the port registry's lock: every user opens it read-write
LOCK_NAME = ".lock"
# a shared directory another user is creating is private until its lock file exists (see
# ensure_shared_dir): how long to wait for it to open before calling it broken
SHARED_DIR_SETTLE = 3.0


class StateDirError(ConfigurationError, OSError):
    """A state directory of pytest-meronodes is unsafe or unusable: it belongs to another user, is a
    symbolic link, or is open to other users. Also an OSError, so that cleanup code which survives
    file-system errors survives this one and the message reaches the test that needs the directory."""


def _tmp(base: Path | None) -> Path:
    return Path(base) if base is not None else Path(tempfile.gettempdir())


def user_dir_path(base: Path | None = None) -> Path:
    """This user's private directory, unchecked (see `user_dir`)."""
    return _tmp(base) / f"pytest-meronodes-{os.geteuid()}"


def ports_dir_path(base: Path | None = None) -> Path:
    """The machine-wide port registry, unchecked (see `ports_dir`)."""
    return _tmp(base) / "pytest-meronodes-ports"


def user_dir(base: Path | None = None) -> Path:
    """`<tmp>/pytest-meronodes-<uid>`, created 0700 or checked to be private and ours."""
    return ensure_private_dir(user_dir_path(base))


def runs_dir(base: Path | None = None) -> Path:
    """Where each run records what it created (see runs.py)."""
    return ensure_private_dir(user_dir(base) / "runs")


def clusters_dir(base: Path | None = None) -> Path:
    """The default home of node clusters: private, and never rotated (unlike pytest's basetemp), so
    a kept cluster keeps its files until `python -m pytest_meronodes reap --cluster ID`."""
    return ensure_private_dir(user_dir(base) / "clusters")


def ports_dir(base: Path | None = None) -> Path:
    """`<tmp>/pytest-meronodes-ports`, created 1777 or checked to be shared safely."""
    return ensure_shared_dir(ports_dir_path(base))


def write_private(path: Path, text: str) -> None:
    """Atomically, as a 0600 file of this user (mkstemp's mode), never through a symbolic link: a
    reader sees the whole text or the file as it was."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _describe_mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def ensure_private_dir(path: Path, *, parents: bool = False) -> Path:
    """Create `path` with mode 0700, or check the existing one: a directory (not a symbolic link)
    owned by this user, which no group or other user can enter. Anything else is a StateDirError:
    someone who could write there could forge what the reaper trusts."""
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_MODE)
        os.chmod(path, PRIVATE_MODE)  # explicit, whatever the umask
    except FileExistsError:
        pass
    except OSError as error:
        raise StateDirError(
            f"cannot create the pytest-meronodes state directory {path}: {error.strerror}; "
            f"set TMPDIR to a directory you can write"
        ) from None
    info = os.lstat(path)
    uid = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != uid:
        problem = f"belongs to uid {info.st_uid}, not to you (uid {uid})"
    elif info.st_mode & 0o077:
        raise StateDirError(
            f"pytest-meronodes state directory {path} has mode {_describe_mode(info.st_mode)}, open to other "
            f"users; it must be private (0700) because what it holds decides which processes and directories "
            f"are removed: run `chmod 700 {path}`, or remove it"
        )
    else:
        return path
    raise StateDirError(
        f"pytest-meronodes state directory {path} {problem}; it must be a directory of your own "
        f"(mode 0700) because what it holds decides which processes and directories are removed. "
        f"Someone may have created it to interfere with your runs: remove it (as its owner or root) "
        f"and rerun, or set TMPDIR to a directory of your own"
    )


def _filelock_refuses_symlinks() -> bool:
    """filelock opens its lock file with O_NOFOLLOW since 3.20.1 (CVE-2025-68146); before, the
    owner of a shared directory could make another user's lock truncate any file of theirs."""
    parts = []
    for part in filelock.__version__.split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        parts.append(int(digits or 0))
    return tuple(parts) >= (3, 20, 1)


def _prepare_lock(path: Path) -> None:
    """Create the lock file as the directory's owner, before anyone else can enter the directory:
    filelock refuses a lock file under a sticky directory that belongs to neither the directory's
    owner nor the user locking (another user could remove it while the lock is held)."""
    with FileLock(str(path / LOCK_NAME), mode=LOCK_MODE, timeout=60):
        pass


def ensure_shared_dir(path: Path) -> Path:
    """Create `path` for every user (mode 1777, set explicitly whatever the umask), or check the
    existing one: a directory, not a symbolic link, sticky and writable by everybody. Another user
    may be creating it this very moment: it is private until its lock file exists, so a directory
    that is not open yet is given a moment before it is called broken."""
    created = False
    try:
        os.mkdir(path, PRIVATE_MODE)  # private until its lock file is ours (see _prepare_lock)
        created = True
    except FileExistsError:
        pass
    except OSError as error:
        raise StateDirError(
            f"cannot create the pytest-meronodes port registry {path}: {error.strerror}; "
            f"set TMPDIR to a directory every user can write"
        ) from None
    uid = os.geteuid()
    deadline = time.monotonic() + SHARED_DIR_SETTLE
    while True:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
            raise StateDirError(
                f"pytest-meronodes port registry {path} is {kind}; it must be a real directory with "
                f"mode 1777 shared by every user of this machine. Someone may have created it to "
                f"interfere with your runs: remove it (as its owner or root) and rerun"
            )
        if stat.S_IMODE(info.st_mode) & SHARED_MODE == SHARED_MODE:
            if info.st_uid not in (uid, 0) and not _filelock_refuses_symlinks():
                raise StateDirError(
                    f"pytest-meronodes port registry {path} belongs to uid {info.st_uid}, who could turn its "
                    f"lock file into a symbolic link that filelock {filelock.__version__} follows (and truncates); "
                    f"upgrade filelock to 3.20.1 or later"
                )
            return path
        if created or info.st_uid == uid:
            # ours, and not open yet (created just now, or by a run of ours cut short before
            # opening it): finish the job
            _prepare_lock(path)
            os.chmod(path, SHARED_MODE)
            created = False
            continue
        if time.monotonic() > deadline:
            raise StateDirError(
                f"pytest-meronodes port registry {path} has mode {_describe_mode(info.st_mode)} and belongs "
                f"to uid {info.st_uid}; it must be sticky and writable by every user (mode 1777, like /tmp) "
                f"so that every user's sessions reserve their ports there: ask its owner or root to run "
                f"`chmod 1777 {path}`, or to remove it while no pytest-meronodes session runs"
            )
        time.sleep(0.05)


def shared_lock(path: Path, timeout: float = 60) -> FileLock:
    """The lock of the shared directory `path`, usable by every user (mode 0666)."""
    return FileLock(str(path / LOCK_NAME), mode=LOCK_MODE, timeout=timeout)


def lock_error(path: Path, error: OSError) -> StateDirError:
    """The message for a lock of the shared directory that this user may not take."""
    lock = path / LOCK_NAME
    return StateDirError(
        f"cannot lock the port registry {lock}: {error}; the lock file must be readable and writable by "
        f"every user and belong to the directory's owner: ask root to remove {path} while no "
        f"pytest-meronodes session runs"
    )
