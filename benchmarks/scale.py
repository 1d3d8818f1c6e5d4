"""Start and teardown of large clusters: the plugin against the same nodes started by hand, side
by side in one run, interleaved (hand-started, plugin, hand-started, plugin, ...).

For each node count N (default 3, 10, 30, 60, 100):
- hand-started: `merod init` of all N in parallel, then `merod run` of all N in parallel, until
  every node's `GET /admin-api/health` answered 200 (the clock runs from the first init to the
  last 200). No mesh, no config change beyond the ports: bare nodes, the cheapest start there is;
- plugin: `factory(count=N)` (topology `auto`: full mesh up to 10 nodes, `random:3` above) to the
  ready cluster it returns (every gate passed, the mesh too), then `cluster.stop()`.
Printed per N: medians, the ratio plugin / hand-started, the plugin's phases, peak RSS per node
(VmHWM just before teardown) and the teardown of both; then a Markdown table for the docs.

Targets: ratio <= 1.3x (sparse topology for N >= 30); teardown of 100 nodes < 2 s.

    python3 benchmarks/scale.py                                  # the bundled simulator
    HTTPS_PROXY=http://127.0.0.1:9 python3 benchmarks/scale.py --merod-binary /path/to/merod

With a real merod, run it with HTTPS_PROXY pointing nowhere as above: the hand-started nodes get
an empty bootstrap list (init writes public boot nodes), and the proxy keeps anything else merod
might fetch from the internet off the figures."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

from _common import SIM_COMMAND, median, merod_in, release_helper_ports

import pytest_meronodes.start as start_module
import tests.simhelpers as simhelpers
from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.factory import ClusterFactory
from pytest_meronodes.gates import start_gates
from pytest_meronodes.parallel import run_parallel
from tests.simhelpers import Node, NodeProcess

T = TypeVar("T")
R = TypeVar("R")

COUNTS = (3, 10, 30, 60, 100)
RATIO_TARGET = 1.3
TEARDOWN_TARGET = (100, 2.0)  # nodes, seconds
# Hand-started nodes: how many `init`s and how many `run`s (each: spawn, then poll its health)
# at once; 0 = one thread per node. Measured on 2 cores with 100 simulator nodes: every `run` at
# once is the fastest (12 s; 4 at a time, each waiting for its health: 16 s), as bare nodes do not
# starve each other; `init` is CPU-bound, so 2, 4, 8 or N at once differ by less than the noise,
# and 8 needs far fewer threads than N.
INIT_THREADS = 8
RUN_THREADS = 0
# Health polling of hand-started nodes: 10 ms keeps a hundred pollers from eating the CPU the
# nodes start on, and costs at most 10 ms at the end.
HEALTH_INTERVAL = 0.01
SETTINGS = MeronodesConfig(
    backend="binary", merod_binary="sim", count=1, topology="auto", log_level="info", startup_timeout=120,
    # 10000 ports, 2 per node
    port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
    merod_image="", auth_image="", traefik_image="", traefik_binary="traefik",
    auth_service="sim", force_pull=False, docker_home="volume", node_cpus=0.0, node_memory="", node_urls=(),
    node_username="", node_password="",
)


@dataclass
class Sample:
    """One start and teardown of N nodes."""

    up: float
    down: float
    rss: list[float]  # MiB per node
    topology: str = "bare"
    phases: dict[str, float] = field(default_factory=dict)


def in_parallel(function: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """`function` on every item, `threads` at a time (0: all at once); the first error re-raised
    once the running calls finished."""
    with ThreadPoolExecutor(max_workers=min(len(items), threads or len(items))) as pool:
        return list(pool.map(function, items))


def peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM of a process and its descendants (a merod that is a wrapper script runs the node as
    its child), in MiB; None when it is gone."""
    if pid is None:
        return None
    total_kib, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        total_kib += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total_kib / 1024 if total_kib else None


def known(values: Sequence[float | None]) -> list[float]:
    return [value for value in values if value is not None]


# --- hand-started ---------------------------------------------------------------------------------

@contextmanager
def reserved_ports(count: int) -> Iterator[None]:
    """Reserve the ports `Merod.init` takes (from `free_port()`) before the clock starts, and hand
    them out in turn: the test helpers' port registry rescans its whole directory for each port
    (~10 ms a port once a hundred are reserved, 2 s for 100 nodes, one at a time under its lock),
    a cost of the harness that no one starting nodes by hand pays."""
    ports = [simhelpers.free_port() for _ in range(count)]
    with mock.patch.object(simhelpers, "free_port", ports.pop):
        yield


def hand_started(command: tuple[str, ...], base: Path, count: int, boot_nodes: Sequence[str] | None,
                 init_threads: int, run_threads: int) -> Sample:
    """init of all N in parallel, then run of all N in parallel, until every health is 200; then
    SIGTERM to all at once and wait for each (the fastest stop by hand)."""
    try:
        with merod_in(command, base) as merod, reserved_ports(2 * count):
            names = [f"node{index + 1}" for index in range(count)]

            def init(name: str) -> Node:
                return merod.init(name, boot_nodes=boot_nodes)

            def run(node: Node) -> NodeProcess:
                running = merod.spawn(node)
                running.wait_healthy(timeout=SETTINGS.startup_timeout, interval=HEALTH_INTERVAL)
                return running

            started = time.perf_counter()
            nodes = in_parallel(init, names, init_threads)
            initialised = time.perf_counter() - started
            processes = in_parallel(run, nodes, run_threads)
            up = time.perf_counter() - started
            rss = known([peak_rss_mib(running.process.pid) for running in processes])
            started = time.perf_counter()
            for running in processes:
                running.process.send_signal(signal.SIGTERM)
            merod.close()  # waits for each (SIGKILL after 10 s), closes the logs
            down = time.perf_counter() - started
            return Sample(up, down, rss, phases={"init": initialised, "run": up - initialised})
    finally:
        release_helper_ports()  # no reservation outlives the run it was for


# --- plugin ---------------------------------------------------------------------------------------

class PhaseClock:
    """Times the plugin's start phases from the outside, without changing it: start.py calls
    `run_parallel` for `init` and `start` (run + health, a few at a time) and `remove` (teardown),
    and `start_gates` for the gates (ready, auth, mesh). Wrapped for the duration of one start;
    if start.py no longer has these names, there are no phases."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    @contextmanager
    def watching(self) -> Iterator[dict[str, float]]:
        self.phases = {}
        if not all(hasattr(start_module, name) for name in ("run_parallel", "start_gates")):
            yield self.phases
            return

        def timed_run_parallel(function: Callable[[Any], Any], items: list[Any], *args: Any,
                               **kwargs: Any) -> list[Any]:
            started = time.perf_counter()
            try:
                return run_parallel(function, items, *args, **kwargs)
            finally:
                label = getattr(function, "__name__", "?")
                self.phases[label] = self.phases.get(label, 0.0) + time.perf_counter() - started

        def timed_start_gates(*args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            try:
                start_gates(*args, **kwargs)
            finally:
                self.phases["gates"] = time.perf_counter() - started

        with mock.patch.object(start_module, "run_parallel", timed_run_parallel), \
                mock.patch.object(start_module, "start_gates", timed_start_gates):
            yield self.phases


def plugin(factory: ClusterFactory, count: int, clock: PhaseClock) -> Sample:
    with clock.watching() as phases:
        started = time.perf_counter()
        cluster = factory(count=count)
        up = time.perf_counter() - started
        try:
            rss = known([peak_rss_mib(getattr(node.runtime, "pid", None)) for node in cluster])
        finally:
            started = time.perf_counter()
            cluster.stop()
            down = time.perf_counter() - started
    start_phases = {"init": phases.get("init", 0.0), "run": phases.get("start", 0.0), "gates": phases.get("gates", 0.0)}
    if phases:
        start_phases["rest"] = up - sum(start_phases.values())  # ports, directory, configs, the Cluster
    return Sample(up, down, rss, cluster.topology, start_phases if phases else {})


# --- the run --------------------------------------------------------------------------------------

@dataclass
class Row:
    count: int
    hand: list[Sample]
    plugin: list[Sample]

    @property
    def ratio(self) -> float:
        return median([s.up for s in self.plugin]) / median([s.up for s in self.hand])


def rss_text(samples: list[Sample]) -> str:
    values = [value for sample in samples for value in sample.rss]
    return f"{median(values):.0f} / {max(values):.0f} MiB" if values else "n/a"


def phases_text(samples: list[Sample]) -> str:
    labels = list(samples[0].phases)
    return ", ".join(f"{label} {median([s.phases.get(label, 0.0) for s in samples]):.2f}" for label in labels)


def report_row(row: Row) -> None:
    hand_up, plugin_up = median([s.up for s in row.hand]), median([s.up for s in row.plugin])
    print(f"N={row.count} ({len(row.hand)} runs each, medians)")
    print(f"  hand-started: {hand_up:7.3f} s  ({phases_text(row.hand)})   teardown "
          f"{median([s.down for s in row.hand]):.3f} s   RSS/node {rss_text(row.hand)} (median / max)")
    phases = f"  ({phases_text(row.plugin)})" if row.plugin[0].phases else ""
    print(f"  plugin:       {plugin_up:7.3f} s{phases}   teardown {median([s.down for s in row.plugin]):.3f} s   "
          f"RSS/node {rss_text(row.plugin)}   topology {row.plugin[0].topology}")
    print(f"  ratio plugin/hand-started: {row.ratio:.2f}x   all runs: hand "
          + " ".join(f"{s.up:.2f}" for s in row.hand) + " | plugin " + " ".join(f"{s.up:.2f}" for s in row.plugin),
          flush=True)


def report_table(rows: list[Row], merod_text: str) -> None:
    print(f"\n{merod_text}\n")
    print("| nodes | hand-started | plugin | ratio | topology | RSS/node (median / max) | teardown plugin |")
    print("|---:|---:|---:|---:|---|---:|---:|")
    for row in rows:
        print(f"| {row.count} | {median([s.up for s in row.hand]):.2f} s | {median([s.up for s in row.plugin]):.2f} s "
              f"| {row.ratio:.2f}x | {row.plugin[0].topology} | {rss_text(row.plugin)} "
              f"| {median([s.down for s in row.plugin]):.2f} s |")
    print()
    ratios_met = all(row.ratio <= RATIO_TARGET for row in rows)
    sparse_met = all(row.plugin[0].topology != "full" for row in rows if row.count >= 30)
    print(f"target ratio <= {RATIO_TARGET}x (sparse topology for N >= 30): "
          f"{'met' if ratios_met and sparse_met else 'NOT met'}"
          + ("" if ratios_met else " (over: " + ", ".join(f"N={r.count} {r.ratio:.2f}x" for r in rows
                                                         if r.ratio > RATIO_TARGET) + ")")
          + ("" if sparse_met else " (a full mesh at N >= 30)"))
    nodes, seconds = TEARDOWN_TARGET
    big = [row for row in rows if row.count == nodes]
    if big:
        down = median([s.down for s in big[0].plugin])
        verdict = "met" if down < seconds else "NOT met"
        print(f"target teardown of {nodes} nodes < {seconds:g} s: {verdict} ({down:.2f} s)")


def merod_version(command: tuple[str, ...]) -> str:
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "unknown"


def machine_state() -> str:
    """What else loads the CPUs (a niced cargo build, other tests): the figures are only as quiet as that."""
    cargo = subprocess.run(["pgrep", "-f", "cargo build"], capture_output=True, check=False).returncode == 0
    return f"cargo build running: {'yes' if cargo else 'no'}, load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Cluster start and teardown: plugin vs nodes started by hand.")
    parser.add_argument("--merod-binary", default="sim", help="a merod, or 'sim' (the bundled simulator; default)")
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)), help="node counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=0,
                        help="runs per count (default: 5 up to 10 nodes, 3 above)")
    parser.add_argument("--init-threads", type=int, default=INIT_THREADS,
                        help=f"hand-started: inits at once, 0 = all (default {INIT_THREADS})")
    parser.add_argument("--run-threads", type=int, default=RUN_THREADS,
                        help=f"hand-started: runs at once, 0 = all (default {RUN_THREADS})")
    options = parser.parse_args()
    counts = [int(text) for text in options.counts.split(",") if text.strip()]
    simulator = options.merod_binary == "sim"
    command = SIM_COMMAND if simulator else (str(Path(options.merod_binary).resolve()),)
    # a real merod's init writes public boot nodes: an empty list keeps it off the internet; the
    # simulator never dials them, so its nodes keep what init wrote (no extra `config` call)
    boot_nodes: tuple[str, ...] | None = None if simulator else ()
    settings = replace(SETTINGS, merod_binary="sim" if simulator else command[0])

    merod_text = (f"{merod_version(command)}, {os.cpu_count()} cores, binary backend; hand-started: "
                  f"{options.init_threads or 'N'} inits / {options.run_threads or 'N'} runs at once"
                  + ("" if simulator else ", bootstrap.nodes = []")
                  + f"; at the start: {machine_state()}")
    print(merod_text)
    print(f"HTTPS_PROXY={os.environ.get('HTTPS_PROXY', '(unset)')}"
          + ("   (a simulator node is a Python process: its RSS is the interpreter's)" if simulator else ""),
          flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as temporary:
        home = Path(temporary)
        factory = ClusterFactory.standalone(settings, home / "clusters")
        clock = PhaseClock()
        try:
            for count in counts:
                repeats = options.repeats or (5 if count <= 10 else 3)
                row = Row(count, [], [])
                for index in range(repeats):
                    row.hand.append(hand_started(command, home / f"hand-{count}-{index}", count, boot_nodes,
                                                 options.init_threads, options.run_threads))
                    row.plugin.append(plugin(factory, count, clock))
                rows.append(row)
                report_row(row)
        finally:
            try:
                factory.close(keep=lambda _cluster: False)  # whatever an error left running
            finally:
                release_helper_ports()
    merod_text += f"; at the end: {machine_state()}"
    report_table(rows, merod_text)


if __name__ == "__main__":
    main()
