"""Fixtures of the Docker tests: a real engine and the images scripts/build_images.py builds.

Locally, a missing engine or image skips these tests; in CI (CI=true) it fails them, because a
skipped Docker test there would hide that the backend was never exercised."""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from pytest_meronodes.backends.docker import labels as docker_labels

SIM_IMAGE = "meronodes-local/merod-sim:dev"
TRAEFIK_REPOSITORY = "meronodes-local/traefik"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Docker tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        _unavailable(f"no Docker engine ({error})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_args(docker_client: docker.DockerClient) -> list[str]:
    """The options a user sets to run our offline images instead of the real ones."""
    try:
        docker_client.images.get(SIM_IMAGE)
    except ImageNotFound:
        _unavailable(f"{SIM_IMAGE} missing: run scripts/build_images.py")
    traefik = [tag for image in docker_client.images.list(name=TRAEFIK_REPOSITORY) for tag in image.tags]
    if not traefik:
        _unavailable(f"no {TRAEFIK_REPOSITORY} image: run scripts/build_images.py")
    return [
        "--node-backend=docker",
        f"--merod-image={SIM_IMAGE}",
        f"--auth-image={SIM_IMAGE}",
        f"--traefik-image={traefik[0]}",
        "-p", "no:cacheprovider",
    ]


def owned_by_dead_runs(client: docker.DockerClient) -> list[str]:
    """Every container, network and volume of ours whose owning process is gone: what a finished
    session left behind. Resources of live sessions (other tests running now) are not listed."""
    found = []
    label: dict[str, str | list[str] | bool] = {"label": docker_labels.RUN}
    for kind, resources in (
        ("container", client.containers.list(all=True, sparse=True, filters=label)),
        ("network", client.networks.list(filters=label)),
        ("volume", client.volumes.list(filters=label)),
    ):
        for resource in resources:
            labels = resource.attrs.get("Labels") or {}
            if not docker_labels.owner_of(labels).is_alive():
                found.append(f"{kind} {resource.name or resource.attrs.get('Names')}")
    return found
