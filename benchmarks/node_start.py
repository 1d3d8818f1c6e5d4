"""Median time from the simulator's `run` to health 200 over 10 starts, beside the time a bare
Python interpreter takes to start and exit, measured in the same run.

Budget: under 0.5 s on our 2-core machines."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SIM_COMMAND, median, merod_in, release_helper_ports, run_until_healthy

STARTS = 10
BUDGET = 0.5


def main() -> None:
    node_samples, python_samples = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as home, merod_in(SIM_COMMAND, Path(home)) as merod:
            bench = merod.init("bench")
            for _ in range(STARTS):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)
                python_samples.append(time.perf_counter() - started)
                running, elapsed = run_until_healthy(merod, bench)
                node_samples.append(elapsed)
                running.stop()
    finally:
        release_helper_ports()
    node, python = median(node_samples), median(python_samples)
    print(f"simulator run -> health 200, median of {STARTS}: {node:.3f} s (budget {BUDGET} s)")
    print(f"bare python -S start+exit, median of {STARTS}:  {python:.3f} s")
    print(f"ratio node/budget: {node / BUDGET:.2f}   ratio node/bare python: {node / python:.2f}")


if __name__ == "__main__":
    main()
