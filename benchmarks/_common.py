"""Helpers shared by the benchmarks: free ports, a hand-started simulator node, medians."""

from __future__ import annotations

import socket
import statistics
import subprocess
import time
from pathlib import Path

import requests

from pytest_meronodes.merod_program import simulator_command

# the very command the plugin runs for --merod-binary=sim, so bare and plugin starts compare alike
SIMULATOR = list(simulator_command())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def init_node(home: Path, name: str, server_port: int, swarm_port: int) -> None:
    base = [*SIMULATOR, "--home", str(home), "--node", name]
    subprocess.run(
        [*base, "init", "--server-host", "127.0.0.1", "--server-port", str(server_port),
         "--swarm-host", "127.0.0.1", "--swarm-port", str(swarm_port)],
        check=True, capture_output=True,
    )
    subprocess.run([*base, "config", "bootstrap.nodes=[]"], check=True, capture_output=True)


def run_until_healthy(
    home: Path, name: str, server_port: int, program: list[str] = SIMULATOR
) -> tuple[subprocess.Popen[bytes], float]:
    """Start `run` and poll health; return the process and the seconds until the first 200."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*program, "--home", str(home), "--node", name, "run"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{server_port}/admin-api/health"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.002)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
