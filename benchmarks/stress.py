"""200 cluster start/stop cycles over 4 concurrent processes, each its own "session" (its own
owner and run id), all sharing the machine's port registry. Prints port collisions (a port held
by two live clusters at once), start failures, and leftovers after the run (node processes,
homes, port reservations, run records). All three should be 0."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_start import SETTINGS

from pytest_meronodes.errors import MeronodesError
from pytest_meronodes.factory import ClusterFactory
from pytest_meronodes.ownership import process_start_time
from pytest_meronodes.ports import DEFAULT_REGISTRY
from pytest_meronodes.runs import DEFAULT_RUNS_DIR


def worker(index: int, cycles: int, base: str, results: str) -> None:
    directory = Path(base) / f"worker{index}"
    directory.mkdir()
    factory = ClusterFactory.standalone(SETTINGS, directory)
    records = []
    for _ in range(cycles):
        started = time.time()
        try:
            cluster = factory(count=2)
        except MeronodesError as error:
            records.append({"failed": str(error)[:300]})
            continue
        up = time.time()
        entry: dict[str, Any] = {
            "ports": [p for node in cluster for p in (node.rpc_port, node.swarm_port)],
            "pids": [getattr(node.runtime, "pid", None) for node in cluster],
            "homes": [str(node.home) for node in cluster],
            "start": started,
            "up": up,
        }
        cluster.stop()
        entry["end"] = time.time()
        records.append(entry)
    (Path(results) / f"{index}.json").write_text(json.dumps({"run": factory.run.owner.run_id, "records": records}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    per_process = args.cycles // args.processes
    with tempfile.TemporaryDirectory(prefix="meronodes-stress-") as base:
        results = Path(base) / "results"
        results.mkdir()
        began = time.perf_counter()
        context = multiprocessing.get_context("spawn")  # each worker is a fresh process: its own owner
        processes = [
            context.Process(target=worker, args=(i, per_process, base, str(results))) for i in range(args.processes)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - began
        runs = [json.loads(path.read_text()) for path in sorted(results.glob("*.json"))]
        records = [record for run in runs for record in run["records"]]
        ok = [r for r in records if "failed" not in r]
        failures = [r["failed"] for r in records if "failed" in r]
        # a collision: one port held by two clusters whose lifetimes overlap
        collisions = 0
        for i, first in enumerate(ok):
            for second in ok[i + 1 :]:
                overlap = first["start"] < second["end"] and second["start"] < first["end"]
                if overlap and set(first["ports"]) & set(second["ports"]):
                    collisions += 1
        leftovers = [f"process {pid}" for r in ok for pid in r["pids"] if pid and process_start_time(pid)]
        leftovers += [f"home {home}" for r in ok for home in r["homes"] if Path(home).exists()]
        run_ids = {run["run"] for run in runs}
        for reservation in DEFAULT_REGISTRY.glob("*.json"):
            try:
                if json.loads(reservation.read_text()).get("run_id") in run_ids:
                    leftovers.append(f"reservation {reservation.stem}")
            except (OSError, ValueError):
                continue
        leftovers += [f"run record {r}" for r in run_ids if (DEFAULT_RUNS_DIR / f"{r}.json").exists()]
        exited_badly = [p.exitcode for p in processes if p.exitcode != 0]
    print(f"{len(records)} cycles over {args.processes} processes in {elapsed:.1f} s "
          f"({len(records) / elapsed:.1f} clusters/s; worker exit codes != 0: {exited_badly})")
    print(f"port collisions: {collisions}")
    print(f"start failures:  {len(failures)}" + (f"  first: {failures[0]}" if failures else ""))
    print(f"leftovers:       {len(leftovers)}" + (f"  {leftovers[:5]}" if leftovers else ""))


if __name__ == "__main__":
    main()
