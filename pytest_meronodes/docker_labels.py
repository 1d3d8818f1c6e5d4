"""Labels that tie every Docker resource to the run, owner process, cluster and node that made it,
so cleanup selects exactly what one run (or a dead run) owns and never anything else."""

from __future__ import annotations

from .ownership import Owner

PREFIX = "meronodes"
RUN = f"{PREFIX}.run"
OWNER_PID = f"{PREFIX}.owner-pid"
OWNER_STARTED = f"{PREFIX}.owner-started"
CLUSTER = f"{PREFIX}.cluster"
NODE = f"{PREFIX}.node"
ROLE = f"{PREFIX}.role"


def labels(owner: Owner, cluster_id: str, role: str, node: str | None = None) -> dict[str, str]:
    result = {
        RUN: owner.run_id,
        OWNER_PID: str(owner.pid),
        OWNER_STARTED: owner.started,
        CLUSTER: cluster_id,
        ROLE: role,
    }
    if node is not None:
        result[NODE] = node
    return result


def owner_of(resource_labels: dict[str, str]) -> Owner:
    return Owner(
        run_id=resource_labels.get(RUN, ""),
        pid=int(resource_labels.get(OWNER_PID, "0") or 0),
        started=resource_labels.get(OWNER_STARTED, ""),
    )
