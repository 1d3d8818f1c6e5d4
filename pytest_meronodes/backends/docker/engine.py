"""The session's Docker engine: one client, and what the plugin knows of each image (checked,
pulled if missing, its user and merod release read), each asked once per session."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePosixPath

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from ...config import MeronodesConfig
from ...errors import ConfigurationError
from ...ownership import Owner
from ...versions import MerodRelease
from . import labels as docker_labels
from .files import FileOwner, group_id, passwd_entry, untar_single
from .runtime import remove_container

SIMULATOR_TITLE = "merod-sim"  # org.opencontainers.image.title of the simulator's image


@dataclass(frozen=True)
class ImageFacts:
    """What the backend needs to know of the merod image, read once per session."""

    owner: FileOwner  # the image's USER, numerically
    release: MerodRelease


def describe_image(image: str) -> str:
    """For the pytest header: the image, and whether it is the simulator, from its labels."""
    try:
        client = docker.from_env(timeout=5)
        labels = client.images.get(image).labels or {}
    except ImageNotFound:
        return f"{image} (not present yet: will be pulled)"
    except DockerException as error:
        return f"{image} (Docker engine unreachable: {type(error).__name__})"
    version = labels.get("org.opencontainers.image.version", "version unknown")
    if labels.get("org.opencontainers.image.title") == SIMULATOR_TITLE:
        return f"{image} (the merod SIMULATOR, merod {version})"
    return f"{image} ({version})"


class DockerEngine:
    def __init__(self, config: MeronodesConfig, owner: Owner) -> None:
        self.config = config
        self.owner = owner
        try:
            self.client = docker.from_env()
            self.client.ping()
        except DockerException as error:
            raise ConfigurationError(
                f"Docker engine unreachable ({error}); start Docker or set DOCKER_HOST, "
                "or use --node-backend=binary"
            ) from None
        self._images_checked: set[str] = set()
        self._image_lock = threading.Lock()
        self._facts: dict[str, ImageFacts] = {}

    def labels(self, cluster_id: str, role: str, node: str | None = None) -> dict[str, str]:
        return docker_labels.labels(self.owner, cluster_id, role, node)

    def ensure_image(self, image: str, option: str) -> None:
        """Pull only when missing (or always with --force-pull); one clear error otherwise."""
        with self._image_lock:
            if image in self._images_checked:
                return
            present = True
            try:
                self.client.images.get(image)
            except ImageNotFound:
                present = False
            if not present or self.config.force_pull:
                try:
                    self.client.images.pull(image)
                except (APIError, DockerException) as error:
                    if not present:
                        raise ConfigurationError(
                            f"Docker image {image} is not present and cannot be pulled ({error}); "
                            f"pull or build it, or set {option} to an image you have"
                        ) from None
            self._images_checked.add(image)

    def image_title(self, image: str) -> str:
        labels = self.client.images.get(image).labels or {}
        return str(labels.get("org.opencontainers.image.title", ""))

    def image_facts(self, image: str) -> ImageFacts:
        """The image's user (numeric: files we put must be its) and merod release, read once."""
        with self._image_lock:
            if image not in self._facts:
                self._facts[image] = self._read_image_facts(image)
            return self._facts[image]

    def _read_image_facts(self, image: str) -> ImageFacts:
        config = self.client.images.get(image).attrs.get("Config") or {}
        entrypoint = [str(part) for part in config.get("Entrypoint") or []]
        if not any(PurePosixPath(part).name == "merod" for part in entrypoint):
            raise ConfigurationError(
                f"Docker image {image} has ENTRYPOINT {entrypoint or 'none'}; pytest-meronodes runs merod through "
                f"the image's ENTRYPOINT, as ghcr.io/calimero-network/merod is built (ENTRYPOINT [\"merod\"]): "
                f"build yours the same way, or set --merod-image to such an image"
            )
        probe = self.client.containers.create(image, command=["--version"], network_mode="none",
                                              labels=self.labels("image-probe", "probe"))
        try:
            owner = self._owner_in(probe, str(config.get("User") or ""))
            probe.start()
            probe.wait(timeout=60)
            output = bytes(probe.logs()).decode("utf-8", errors="replace").strip()
        finally:
            remove_container(probe)
        first_line = (output.splitlines() or [""])[0]
        if not first_line.startswith("merod"):
            raise ConfigurationError(
                f"Docker image {image}: `merod --version` printed {first_line!r}, not a merod version; "
                f"set --merod-image to a merod image\n--- what it printed ---\n{output[-2000:]}"
            )
        return ImageFacts(owner, MerodRelease.from_version_text(first_line))

    @staticmethod
    def _owner_in(container: Container, user: str) -> FileOwner:
        """USER as numbers: a name is looked up in the image's /etc/passwd and /etc/group."""
        name, _, group = user.partition(":")
        if not name:
            return FileOwner()

        def read(path: str) -> str:
            try:
                stream, _ = container.get_archive(path)
                return untar_single(stream)[0].decode("utf-8", errors="replace")
            except (NotFound, APIError, ValueError):
                return ""

        entry = passwd_entry(read("/etc/passwd"), name) if not (name.isdigit() and group.isdigit()) else None
        uid = int(name) if name.isdigit() else (entry[0] if entry else None)
        gid = group_id(group, read("/etc/group")) if group else (entry[1] if entry else 0)
        if uid is None or gid is None:
            raise ConfigurationError(f"the image's USER {user!r} is not in its /etc/passwd")
        return FileOwner(uid, gid)
