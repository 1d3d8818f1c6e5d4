"""Helpers shared by the benchmarks: the test suite's simulator helpers (tests/simhelpers.py), a
node start timed to its first health 200, medians."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

# run as `python3 benchmarks/NAME.py`, with only benchmarks/ on the path: the helpers live in tests/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.simhelpers import (
    SIM_COMMAND,
    Merod,
    Node,
    NodeProcess,
    is_healthy,
    merod_in,
    poll_until,
    release_helper_ports,
)

# the benchmarks take these from here, where the path to them is set up
__all__ = [
    "SIM_COMMAND", "Merod", "is_healthy", "median", "merod_in", "poll_until", "release_helper_ports",
    "run_until_healthy",
]

HEALTH_POLL = 0.002  # seconds between health requests: fine enough to time a start of ~0.1 s


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def run_until_healthy(merod: Merod, node: Node) -> tuple[NodeProcess, float]:
    """Start `run` and poll health; the process, and the seconds until the first 200."""
    started = time.perf_counter()
    running = merod.spawn(node)
    running.wait_healthy(interval=HEALTH_POLL)
    return running, time.perf_counter() - started
