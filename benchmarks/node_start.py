"""Median time from the simulator's `run` to health 200 over 10 starts, beside the time a bare
Python interpreter takes to start and exit, measured in the same run.

Budget: under 0.5 s on our 2-core machines."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port, init_node, median, run_until_healthy, stop

STARTS = 10
BUDGET = 0.5


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as home:
        server_port, swarm_port = free_port(), free_port()
        init_node(Path(home), "bench", server_port, swarm_port)
        node_samples, python_samples = [], []
        for _ in range(STARTS):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)
            python_samples.append(time.perf_counter() - started)
            process, elapsed = run_until_healthy(Path(home), "bench", server_port)
            node_samples.append(elapsed)
            stop(process)
    node, python = median(node_samples), median(python_samples)
    print(f"simulator run -> health 200, median of {STARTS}: {node:.3f} s (budget {BUDGET} s)")
    print(f"bare python -S start+exit, median of {STARTS}:  {python:.3f} s")
    print(f"ratio node/budget: {node / BUDGET:.2f}   ratio node/bare python: {node / python:.2f}")


if __name__ == "__main__":
    main()
