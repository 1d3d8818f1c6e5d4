"""Cluster start-up through the plugin against one bare simulator node started by hand, in one run.

- bare: `init` + `config` + `run` of one simulator node until health 200, by hand;
- 3 and 10 nodes: the plugin's binary backend, from nothing to a ready mesh;
- teardown of the 3-node cluster.
Targets: 3 nodes within 1.5x of the bare node, 10 nodes within 3x, teardown of 3 under 1 s."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import free_port, init_node, median, run_until_healthy, stop

from pytest_meronodes.backends.binary import BinaryBackend
from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.factory import ClusterFactory

REPEATS = 5


def bare_node(home: Path, index: int) -> float:
    started = time.perf_counter()
    server_port = free_port()
    init_node(home, f"bare{index}", server_port, free_port())
    process, _ = run_until_healthy(home, f"bare{index}", server_port)
    elapsed = time.perf_counter() - started
    stop(process)
    return elapsed


def main() -> None:
    settings = MeronodesConfig(
        backend="binary", merod_binary="sim", count=1, log_level="info", startup_timeout=60,
        port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
        node_urls=(), node_username="", node_password="",
    )
    with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as temporary:
        home = Path(temporary)
        factory = ClusterFactory(settings, BinaryBackend(settings, home / "clusters"))
        (home / "clusters").mkdir()
        bare, three, ten, teardown = [], [], [], []
        for index in range(REPEATS):
            bare.append(bare_node(home, index))
            started = time.perf_counter()
            cluster = factory(count=3)
            three.append(time.perf_counter() - started)
            started = time.perf_counter()
            cluster.stop()
            teardown.append(time.perf_counter() - started)
            started = time.perf_counter()
            cluster = factory(count=10)
            ten.append(time.perf_counter() - started)
            cluster.stop()
        factory.close(keep=False)
    b, t3, t10, td = median(bare), median(three), median(ten), median(teardown)
    print(f"medians of {REPEATS} runs")
    print(f"bare node (init+run -> health 200): {b:.3f} s")
    print(f"3-node cluster -> ready mesh:       {t3:.3f} s   ratio {t3 / b:.2f}x (target <= 1.5x)")
    print(f"10-node cluster -> ready mesh:      {t10:.3f} s   ratio {t10 / b:.2f}x (target <= 3x)")
    print(f"3-node teardown:                    {td:.3f} s   (target < 1 s)")


if __name__ == "__main__":
    main()
