"""Cluster start-up through the plugin against one bare node started by hand, in one run.

Binary backend (the simulator):
- bare: `init` + `run` of one simulator node until health 200, by hand;
- 3 and 10 nodes: the plugin, from nothing to a ready mesh; teardown of the 3-node cluster.
  Targets: 3 nodes within 1.5x of the bare node, 10 nodes within 3x, teardown of 3 under 1 s.
Docker backend (the simulator image, when an engine and the image are there):
- bare: `docker run` of an init container, then of the node, until health 200;
- 3 nodes: the plugin, to a ready mesh, and their teardown."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import (
    HEALTH_POLL,
    SIM_COMMAND,
    Merod,
    is_healthy,
    median,
    merod_in,
    poll_until,
    release_helper_ports,
    run_until_healthy,
)

from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.factory import ClusterFactory

REPEATS = 5
SIM_IMAGE = "meronodes-local/merod-sim:dev"
SETTINGS = MeronodesConfig(
    backend="binary", merod_binary="sim", count=1, log_level="info", startup_timeout=60,
    port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
    merod_image=SIM_IMAGE, auth_image=SIM_IMAGE, traefik_image="", traefik_binary="traefik",
    auth_service="sim", force_pull=False, docker_home="volume", node_cpus=0.0, node_memory="", node_urls=(),
    node_username="", node_password="",
)


def start_and_stop(factory: ClusterFactory, count: int) -> tuple[float, float]:
    """Seconds from nothing to a ready mesh, and from there to everything removed."""
    started = time.perf_counter()
    cluster = factory(count=count)
    up = time.perf_counter() - started
    started = time.perf_counter()
    cluster.stop()
    return up, time.perf_counter() - started


def bare_node(merod: Merod, name: str) -> float:
    """init + run by hand, as a developer would; no bootstrap change (the simulator never dials
    public boot nodes)."""
    started = time.perf_counter()
    running, _ = run_until_healthy(merod, merod.init(name, boot_nodes=None))
    elapsed = time.perf_counter() - started
    running.stop()
    return elapsed


def binary(home: Path) -> None:
    (home / "clusters").mkdir()
    factory = ClusterFactory.standalone(SETTINGS, home / "clusters")
    bare, typed, three, ten, teardown = [], [], [], [], []
    console_script = shutil.which("merod-sim")
    for index in range(REPEATS):
        with merod_in(SIM_COMMAND, home / f"bare{index}") as merod:
            bare.append(bare_node(merod, "bare"))
        if console_script:
            with merod_in((console_script,), home / f"typed{index}") as merod:
                typed.append(bare_node(merod, "typed"))
        up, down = start_and_stop(factory, 3)
        three.append(up)
        teardown.append(down)
        ten.append(start_and_stop(factory, 10)[0])
    b, t3, t10, td = median(bare), median(three), median(ten), median(teardown)
    print(f"binary backend, medians of {REPEATS} runs")
    print(f"  bare node (init+run -> health 200): {b:.3f} s   (the command the plugin runs; ratios use this)")
    if typed:
        print(f"  bare node via the merod-sim script: {median(typed):.3f} s   (what a developer types; for reference)")
    print(f"  3-node cluster -> ready mesh:       {t3:.3f} s   ratio {t3 / b:.2f}x (target <= 1.5x)")
    print(f"  10-node cluster -> ready mesh:      {t10:.3f} s   ratio {t10 / b:.2f}x (target <= 3x)")
    print(f"  3-node teardown:                    {td:.3f} s   (target < 1 s)")


def docker_bare(client: object) -> float:
    import docker

    assert isinstance(client, docker.DockerClient)
    started = time.perf_counter()
    volume = client.volumes.create()
    try:
        home = {volume.name: {"bind": "/data", "mode": "rw"}}
        client.containers.run(SIM_IMAGE, ["--home", "/data", "--node", "bare", "init", "--server-host",
                                          "0.0.0.0"], volumes=home, remove=True)
        node = client.containers.run(SIM_IMAGE, ["--home", "/data", "--node", "bare", "run"], volumes=home,
                                     ports={"2528/tcp": ("127.0.0.1", None)}, detach=True)  # type: ignore[call-overload]
        try:
            node.reload()
            port = node.attrs["NetworkSettings"]["Ports"]["2528/tcp"][0]["HostPort"]
            poll_until(lambda: is_healthy(f"http://127.0.0.1:{port}"), timeout=60, what="the container's health",
                       interval=HEALTH_POLL)
            return time.perf_counter() - started
        finally:
            node.remove(force=True)
    finally:
        volume.remove(force=True)


def docker_section(home: Path) -> None:
    try:
        import docker

        client = docker.from_env()
        client.images.get(SIM_IMAGE)
    except Exception as error:
        print(f"docker backend: skipped ({type(error).__name__}: no engine or no {SIM_IMAGE})")
        return

    settings = replace(SETTINGS, backend="docker")
    (home / "docker").mkdir()
    factory = ClusterFactory.standalone(settings, home / "docker")
    bare, three, teardown = [], [], []
    for _ in range(REPEATS):
        bare.append(docker_bare(client))
        up, down = start_and_stop(factory, 3)
        three.append(up)
        teardown.append(down)
    b, t3, td = median(bare), median(three), median(teardown)
    print(f"docker backend, medians of {REPEATS} runs")
    print(f"  bare docker run (init + run -> health 200): {b:.3f} s")
    print(f"  3-node cluster -> ready mesh:               {t3:.3f} s   ratio {t3 / b:.2f}x")
    print(f"  3-node teardown:                            {td:.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meronodes-bench-") as temporary:
        try:
            binary(Path(temporary))
        finally:
            release_helper_ports()
        docker_section(Path(temporary))


if __name__ == "__main__":
    main()
