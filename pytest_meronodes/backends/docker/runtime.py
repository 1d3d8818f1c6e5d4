"""A node container as a NodeRuntime: liveness, logs (kept in memory once it is removed), upload."""

from __future__ import annotations

import contextlib
import functools
import threading
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from ...runtime import STOP_GRACE
from .files import FileOwner, tar_of

HOME = "/data"  # the real image's CALIMERO_HOME, WORKDIR and VOLUME


@functools.cache
def _engine() -> docker.DockerClient:
    """One client for every container this process attaches to: each new client asks the engine
    for its API version first and keeps a connection pool of its own."""
    return docker.from_env()


class ContainerRuntime:
    """Liveness and logs of a node container; both are kept in memory when it is removed."""

    def __init__(self, container: Container, node_dir: str, owner: FileOwner) -> None:
        self.container = container
        self.node_dir = node_dir  # inside the container
        self.owner = owner
        self._final_logs: str | None = None
        self._final_state: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _state(self) -> dict[str, Any]:
        if self._final_state is not None:
            return self._final_state
        try:
            self.container.reload()
        except NotFound:  # removed behind our back: it is not running, whatever its exit code was
            return {"Status": "removed", "ExitCode": -1, "OOMKilled": False}
        state: dict[str, Any] = self.container.attrs.get("State", {})
        return state

    def exit_code(self) -> int | None:
        state = self._state()
        if state.get("Status") in ("exited", "dead", "removed"):
            return int(state.get("ExitCode") or 0)
        return None

    def oom_killed(self) -> bool:
        return bool(self._state().get("OOMKilled"))

    def logs(self) -> str:
        if self._final_logs is not None:
            return self._final_logs
        try:
            return bytes(self.container.logs()).decode("utf-8", errors="replace")
        except (NotFound, APIError):
            return ""

    def log_tail(self, lines: int) -> str:
        """The last lines only: a failed test's report must not fetch a whole container log."""
        if self._final_logs is not None:
            return "\n".join(self._final_logs.splitlines()[-lines:])
        try:
            return bytes(self.container.logs(tail=lines)).decode("utf-8", errors="replace")
        except (NotFound, APIError):
            return ""

    def stop(self, grace: float = STOP_GRACE) -> None:
        with contextlib.suppress(NotFound, APIError):
            self.resume()  # a paused container cannot take SIGTERM
            self.container.stop(timeout=int(grace))

    def end(self) -> None:
        """`docker stop`: the engine's own stop is quick, and the container is removed next."""
        self.stop()

    def start(self) -> None:
        self.container.start()

    def kill(self, signum: int, grace: float = STOP_GRACE) -> None:
        with contextlib.suppress(NotFound, APIError):
            self.container.kill(signal=int(signum))
        with contextlib.suppress(Exception):  # requests' ReadTimeout: it did not exit in time
            self.container.wait(timeout=grace)

    def pause(self) -> None:
        self.container.pause()

    def resume(self) -> None:
        self.container.reload()
        if self.container.status == "paused":
            self.container.unpause()

    def describe(self) -> str:
        return f"log: docker logs {self.container.name}"

    def reference(self) -> dict[str, Any]:
        return {"kind": "container", "id": self.container.id, "node_dir": self.node_dir,
                "uid": self.owner.uid, "gid": self.owner.gid}

    @classmethod
    def reattach(cls, reference: dict[str, Any]) -> ContainerRuntime:
        """The runtime of a container another pytest process started (handoff.py); NotFound if it
        is gone."""
        return cls(_engine().containers.get(str(reference["id"])), str(reference["node_dir"]),
                   FileOwner(int(reference["uid"]), int(reference["gid"])))

    def upload(self, local_path: Path) -> str:
        """Copy a file into the node's home volume, where the node can read it, at the same path
        in every container: merod's application id depends on the path it installs from, and the
        nodes of a namespace must agree on it."""
        member = f"meronodes-uploads/{local_path.name}"
        self.container.put_archive(HOME, tar_of(member, local_path.read_bytes(), 0o644, self.owner))
        return f"{HOME}/{member}"

    def capture(self) -> None:
        """Save exit state and logs before the container is removed."""
        with self._lock:
            if self._final_logs is None:
                self._final_state = self._state()
                self._final_logs = self.logs()




REMOVAL_WAIT = 60  # seconds for a container's removal to finish, ours or another client's


def remove_container(container: Container) -> None:
    """Returns once the container is gone, whoever removes it. When another client (a concurrent
    reaper) is removing it already, that removal is waited for: until it ends, the container still
    holds its volume and network, and removing those would fail with "in use"."""
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as error:
        if "already in progress" not in str(error):
            raise
        with contextlib.suppress(NotFound):  # NotFound: it finished before the wait began
            container.wait(timeout=REMOVAL_WAIT, condition="removed")
