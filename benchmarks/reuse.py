"""A cluster kept for reuse (--reuse-nodes), taken by the next session, against starting it anew,
side by side in one run.

For 3 and 30 nodes (topology auto: full mesh for 3, random:3 for 30): the first "session" starts
the cluster and leaves it running; each following one (a new ReuseStore and factory, as a new
pytest session makes them) takes it: the claim, the handoff, the liveness check (process alive,
health, token with auth, mesh as wired) and the reset hook, to the ready cluster. The takes come
once merod's own discovery has settled (every node connected to every other, seconds after a
start), as the next session of an edit-run loop does. What pytest itself costs to start is not
counted: only what the fixture adds.

Target: a reused cluster ready in under 0.5 s.

    python3 benchmarks/reuse.py                                   # the bundled simulator
    HTTPS_PROXY=http://127.0.0.1:9 python3 benchmarks/reuse.py --merod-binary /path/to/merod"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import median

from pytest_meronodes.backends import create_backend
from pytest_meronodes.cluster import Cluster
from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.factory import ClusterFactory
from pytest_meronodes.reuse import ReuseStore
from pytest_meronodes.run_context import RunContext

REPEATS = 5
TARGET = 0.5
CASES = ((3, None), (3, "embedded"), (30, None))


def settings_for(merod: str) -> MeronodesConfig:
    return MeronodesConfig(
        backend="binary", merod_binary=merod, count=1, log_level="info", startup_timeout=120,
        port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
        merod_image="", auth_image="", traefik_image="", traefik_binary="traefik", auth_service="sim",
        force_pull=False, docker_home="volume", node_cpus=0.0, node_memory="", node_urls=(), node_username="",
        node_password="", reuse_nodes=True,
    )


def session(settings: MeronodesConfig, home: Path) -> tuple[ClusterFactory, ReuseStore]:
    """What a pytest session with --reuse-nodes makes: its run, backend, reuse store and factory."""
    run = RunContext.create(home)
    store = ReuseStore(settings)
    return ClusterFactory(settings, create_backend(settings, run), run, reuse=store), store


def settle(cluster: Cluster, timeout: float = 60.0) -> None:
    """Until merod's own discovery has connected every node to every other (it does so within
    seconds of a start, busy meanwhile): the next session of an edit-run loop comes later than
    that, and a take measured during it would time merod's mesh, not the take."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(node.client.peers_count() >= len(cluster) - 1 for node in cluster):
            return
        time.sleep(0.5)


def measure(settings: MeronodesConfig, home: Path, count: int, auth: str | None) -> tuple[float, float, int]:
    """Seconds to start the cluster, median seconds to take it again, and the number of takes."""
    # names of its own: the key differs from any cluster a test session keeps
    arguments = {"count": count, "auth": auth, "names": [f"bench{i}" for i in range(count)]}
    factory, store = session(settings, home)
    started = time.perf_counter()
    first = factory(**arguments)
    fresh = time.perf_counter() - started
    settle(first)
    factory.close(keep=lambda _: True)
    takes = []
    try:
        for _ in range(REPEATS):
            factory, _store = session(settings, home)
            started = time.perf_counter()
            taken = factory(**arguments)
            takes.append(time.perf_counter() - started)
            assert taken.id == first.id, f"a new cluster {taken.id} instead of {first.id}"
            factory.close(keep=lambda _: True)
    finally:
        for cluster in store.started:  # the real clusters behind the views: this process started them
            cluster.refuse_stop = ""
            cluster.stop()
    return fresh, median(takes), len(takes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merod-binary", default="sim", help="merod program (default: the simulator)")
    args = parser.parse_args()
    settings = settings_for(args.merod_binary)
    print(f"merod: {args.merod_binary}; medians of {REPEATS} takes")
    rows = []
    with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as temporary:
        for count, auth in CASES:
            fresh, taken, _ = measure(settings, Path(temporary), count, auth)
            rows.append((count, auth or "none", fresh, taken))
            print(f"  {count:3} nodes, auth {auth or 'none':8}: start {fresh:6.3f} s, reused {taken:.3f} s "
                  f"(target < {TARGET} s: {'met' if taken < TARGET else 'MISSED'})")
    print("\n| nodes | auth | started | reused | target |\n|---|---|---|---|---|")
    for count, auth, fresh, taken in rows:
        print(f"| {count} | {auth} | {fresh:.3f} s | {taken:.3f} s | {'met' if taken < TARGET else 'missed'} |")


if __name__ == "__main__":
    main()
