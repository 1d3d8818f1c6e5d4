"""`python -m pytest_meronodes ps|reap`: see and remove what pytest-meronodes left on this machine."""

from __future__ import annotations

import argparse

from .reaper import Reaped, describe, docker_client_if_any, live_docker_clusters, reap_docker, reap_local


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_meronodes")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ps", help="list runs, clusters, processes and Docker resources")
    reap = commands.add_parser("reap", help="remove what dead runs left behind")
    reap.add_argument(
        "--cluster", action="append", metavar="ID",
        help="remove only this cluster (also a kept one) once its session has ended; repeatable",
    )
    args = parser.parse_args()
    if args.command == "ps":
        print("\n".join(describe()))
        return 0
    clusters = args.cluster
    client = docker_client_if_any()
    live = live_docker_clusters(client) if client is not None else None
    result = reap_local(clusters=clusters, result=Reaped(), live_docker_clusters=live)
    if client is not None:
        reap_docker(client, clusters=clusters, result=result)
    for line in [*result.processes, *result.homes, *result.docker]:
        print(f"removed {line}")
    print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
