"""Files in and out of containers (tar streams, for put_archive/get_archive) and the image's
users, read from its /etc/passwd and /etc/group."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileOwner:
    """Who files we put into a container belong to: the user merod runs as there."""

    uid: int = 0
    gid: int = 0


def tar_of(name: str, data: bytes, mode: int = 0o600, owner: FileOwner = FileOwner()) -> bytes:
    """A tar holding one file (and its parent directories), for put_archive, which keeps the
    owner the tar names: merod runs unprivileged and must be able to read what we put."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type = tarfile.DIRTYPE
            directory.mode = 0o755
            directory.uid, directory.gid = owner.uid, owner.gid
            archive.addfile(directory)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.uid, info.gid = owner.uid, owner.gid
        info.mtime = int(time.time())
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar_single(stream: Any) -> tuple[bytes, tarfile.TarInfo]:
    """The one file of a get_archive stream, and its tar header (owner, mode)."""
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        member = archive.next()
        handle = archive.extractfile(member) if member is not None else None
        if handle is None or member is None:
            raise ValueError("empty archive")
        return handle.read(), member


def passwd_entry(passwd: str, user: str) -> tuple[int, int] | None:
    """(uid, gid) of a user, by name or uid, in an /etc/passwd text."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and user in (fields[0], fields[2]) and fields[2].isdigit() and fields[3].isdigit():
            return int(fields[2]), int(fields[3])
    return None


def group_id(group: str, groups: str) -> int | None:
    """The gid of a group, by name or number, in an /etc/group text."""
    if group.isdigit():
        return int(group)
    for line in groups.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
            return int(fields[2])
    return None
