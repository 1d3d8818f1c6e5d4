"""`python -m pytest_meronodes ps|reap`: see and remove what pytest-meronodes left on this machine.
Both act for the user who runs them: their runs, their reservations, their Docker resources."""

from __future__ import annotations

import argparse
import re
import sys

from . import reaper, state_dir
from .backends import engine_resources
from .backends.base import EngineResources
from .errors import MeronodesError
from .runs import in_use

PROG = "python -m pytest_meronodes"
# a run id (8 hex digits) and the cluster's number in that run, as ps and the summaries print it
CLUSTER_ID = re.compile(r"[0-9a-f]{8}-c[1-9][0-9]*")


def cluster_id(text: str) -> str:
    if not CLUSTER_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a cluster id (like 1b29bed7-c1, as ps and the kept-clusters summary print it)"
        )
    return text


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ps", help="list your runs, clusters and processes, port reservations and Docker resources")
    reap = commands.add_parser("reap", help="remove what your dead runs left behind")
    reap.add_argument(
        "--cluster", action="append", metavar="ID", type=cluster_id,
        help="remove only this cluster (also a kept one) once its session has ended; repeatable",
    )
    reap.add_argument(
        "--reusable", action="store_true",
        help="remove every cluster kept for reuse (--reuse-nodes) that no running session uses",
    )
    args = parser.parse_args()
    try:
        if args.command == "ps":
            print("\n".join(reaper.describe()))
            return 0
        clusters = args.cluster
        if args.reusable:
            clusters = sorted({*(clusters or []), *reaper.reusable_clusters()})
            if not clusters:
                print("no cluster is kept for reuse (or every one is in use by a running session)")
                return 0
        engines = engine_resources()
        if clusters:
            problem = _unreapable(clusters, engines)
            if problem:
                print(f"{PROG} reap: {problem}", file=sys.stderr)
                return 1
        result = reaper.reap(clusters=clusters, engines=engines)
    except MeronodesError as error:  # an unsafe state directory: say what and how to fix it
        print(f"python -m pytest_meronodes {args.command}: {error}", file=sys.stderr)
        return 1
    for line in [*result.processes, *result.homes, *result.engine]:
        print(f"removed {line}")
    for line in result.refused:
        print(f"left alone {line}")
    print(result.summary(itemize_refused=False))
    # something named or found could not be removed: say so in the exit status too
    return 1 if result.refused or any("NOT removed" in line for line in [*result.homes, *result.engine]) else 0


def _unreapable(clusters: list[str], engines: list[EngineResources]) -> str | None:
    """Why `reap --cluster` cannot act on what it was given: an id found nowhere, or a cluster
    whose session still runs (reaping leaves a live session's clusters alone)."""
    owners = reaper.cluster_owners(engines=engines)
    for wanted in clusters:
        owner = owners.get(wanted)
        if owner is None:
            return f"no cluster {wanted!r} in your runs or Docker resources; {PROG} ps lists them"
        if owner.is_alive():
            return (
                f"cluster {wanted!r} belongs to a session that still runs (pid {owner.pid}, run {owner.run_id}); "
                f"left alone: stop that pytest first"
            )
        if in_use(state_dir.runs_dir(), wanted):
            return (f"cluster {wanted!r} is kept for reuse and a running session uses it; left alone: stop that "
                    f"pytest first")
    return None


if __name__ == "__main__":
    raise SystemExit(main())
