"""Docker resources are reaped by their labels, and only when the labels prove them this user's and
made on this machine (boot and pid namespace), where their owner's pid and start time mean
something. Volumes and networks need no image, so these run wherever an engine answers."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import NotFound

from pytest_meronodes.backends.docker.reaping import DockerResources
from pytest_meronodes.reaper import reap_engines

from .conftest import dead_owner

pytestmark = pytest.mark.docker


@pytest.fixture
def made(docker_client: docker.DockerClient) -> Iterator[list[Any]]:
    """Volumes and networks this test creates; whatever is left of them is removed at the end."""
    resources: list[Any] = []
    yield resources
    for resource in resources:
        with contextlib.suppress(NotFound):
            resource.remove()


def _host_key() -> str:
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{boot}/{os.readlink('/proc/self/ns/pid')}"


def _labels(cluster: str, **extra: str) -> dict[str, str]:
    """A dead run's labels, as an older pytest-meronodes (or anyone with the engine) writes them."""
    owner = dead_owner(cluster.split("-")[0])
    return {
        "meronodes.run": str(owner["run_id"]),
        "meronodes.owner-pid": str(owner["pid"]),
        "meronodes.owner-started": str(owner["started"]),
        "meronodes.cluster": cluster,
        "meronodes.role": "node",
        **extra,
    }


def _exists(resource: Any) -> bool:
    try:
        resource.reload()
    except NotFound:
        return False
    return True


def test_resources_whose_labels_do_not_prove_them_ours_are_left_alone(
    docker_client: docker.DockerClient, made: list[Any], runs: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    cases = {
        "unlabelled-owner": _labels(f"{tag}-c1"),  # no uid or host: proves nothing
        "another-uid": _labels(f"{tag}-c2", **{"meronodes.owner-uid": "65534", "meronodes.owner-host": _host_key()}),
        "another-host": _labels(f"{tag}-c3", **{
            "meronodes.owner-uid": str(os.geteuid()), "meronodes.owner-host": "another-boot/pid:[1]",
        }),
    }
    for case, labels in cases.items():
        made.append(docker_client.volumes.create(f"meronodes-test-{tag}-{case}", labels=labels))
        made.append(docker_client.networks.create(f"meronodes-test-{tag}-{case}", labels=labels))

    reap_engines([DockerResources(docker_client)], runs_dir=runs)

    assert [resource.name for resource in made if not _exists(resource)] == []


def test_a_dead_runs_own_resources_are_still_reaped(
    docker_client: docker.DockerClient, made: list[Any], runs: Path
) -> None:
    from pytest_meronodes.backends.docker import labels as docker_labels
    from pytest_meronodes.ownership import Owner

    tag = uuid.uuid4().hex[:8]
    owner = dead_owner(tag)
    labels = docker_labels.labels(Owner(tag, int(owner["pid"]), str(owner["started"])), f"{tag}-c1", "node")
    assert labels[docker_labels.OWNER_HOST] == _host_key()
    assert labels[docker_labels.OWNER_UID] == str(os.geteuid())
    made.append(docker_client.volumes.create(f"meronodes-test-{tag}-ours", labels=labels))

    reap_engines([DockerResources(docker_client)], runs_dir=runs)

    assert not _exists(made[0])
