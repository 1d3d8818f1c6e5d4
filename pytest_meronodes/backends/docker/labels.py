"""Labels that tie every Docker resource to the user, machine, run, owner process, cluster and node
that made it, so cleanup selects exactly what one run (or a dead run) owns and never anything else.

The owner's pid and start time say whether the owner lives only where they were taken: on this
boot and in this pid namespace (`ownership.host_key`). A Docker engine is often shared more widely
than that (a CI job in a container with the engine's socket, another Unix user in the docker group,
a remote engine), so a resource counts as ours only when its labels name this user and this host
key too; anything else is never removed, whatever its owner pid says."""

from __future__ import annotations

import os

from ...ownership import Owner, host_key

PREFIX = "meronodes"
RUN = f"{PREFIX}.run"
OWNER_PID = f"{PREFIX}.owner-pid"
OWNER_STARTED = f"{PREFIX}.owner-started"
OWNER_UID = f"{PREFIX}.owner-uid"
OWNER_HOST = f"{PREFIX}.owner-host"
CLUSTER = f"{PREFIX}.cluster"
NODE = f"{PREFIX}.node"
ROLE = f"{PREFIX}.role"


def labels(owner: Owner, cluster_id: str, role: str, node: str | None = None) -> dict[str, str]:
    result = {
        RUN: owner.run_id,
        OWNER_PID: str(owner.pid),
        OWNER_STARTED: owner.started,
        OWNER_UID: str(os.geteuid()),
        OWNER_HOST: host_key(),
        CLUSTER: cluster_id,
        ROLE: role,
    }
    if node is not None:
        result[NODE] = node
    return result


def is_ours(resource_labels: dict[str, str]) -> bool:
    """Made by this user on this machine, where its owner's liveness can be judged. Resources
    without these labels (made by an older pytest-meronodes) prove nothing: never ours."""
    return (
        resource_labels.get(OWNER_UID) == str(os.geteuid())
        and resource_labels.get(OWNER_HOST) == host_key()
    )


def owner_of(resource_labels: dict[str, str]) -> Owner:
    return Owner(
        run_id=resource_labels.get(RUN, ""),
        pid=int(resource_labels.get(OWNER_PID, "0") or 0),
        started=resource_labels.get(OWNER_STARTED, ""),
    )
