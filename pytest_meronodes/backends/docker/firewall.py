"""Network faults between a cluster's containers, made on the host: rules in Docker's DOCKER-USER
chain (which bridged traffic between containers passes) cut or thin swarm traffic, and netem in a
node's network namespace delays it. Every rule carries a comment naming the run, its owner and
the cluster, so the cluster's teardown, and a later session's reaper, remove exactly those.

Both need root on the Docker host (iptables, nsenter); the merod image needs nothing (it has no
`tc`). A kernel without the netem qdisc cannot delay traffic: that is said, not ignored."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable

from ...errors import FaultUnavailableError
from ...ownership import Owner

CHAIN = "DOCKER-USER"
SWARM_PORT = 2428
TAG = re.compile(r'--comment "?(meronodes:[^ "]+)"?')


def _run(argv: list[str], what: str) -> str:
    if shutil.which(argv[0]) is None:
        raise FaultUnavailableError(f"{what} needs `{argv[0]}` on the Docker host (as root); it is not installed")
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        said = (completed.stderr or completed.stdout).strip()
        hint = "; run pytest as root on the Docker host" if "ermission" in said or "must be root" in said else ""
        raise FaultUnavailableError(f"{what}: `{' '.join(argv)}` failed: {said}{hint}")
    return completed.stdout


def rule_tag(owner: Owner, cluster_id: str) -> str:
    return f"meronodes:{owner.run_id}:{cluster_id}:{owner.pid}:{owner.started or '-'}"


def owner_of_tag(tag: str) -> tuple[Owner, str] | None:
    parts = tag.split(":")
    if len(parts) != 5 or not parts[3].isdigit():
        return None
    return Owner(parts[1], int(parts[3]), "" if parts[4] == "-" else parts[4]), parts[2]


class Firewall:
    """The rules of one cluster."""

    def __init__(self, owner: Owner, cluster_id: str) -> None:
        self.tag = rule_tag(owner, cluster_id)
        self.delayed: dict[str, int] = {}  # node address -> pid whose namespace has a netem qdisc

    def _rule(self, *match: str, target: list[str]) -> list[str]:
        return [*match, "-m", "comment", "--comment", self.tag, "-j", *target]

    def _insert(self, rule: list[str], what: str) -> None:
        _run(["iptables", "-I", CHAIN, *rule], what)

    def _delete(self, rule: list[str]) -> None:
        subprocess.run(["iptables", "-D", CHAIN, *rule], capture_output=True, timeout=30, check=False)

    def _cut_rules(self, a: str, b: str) -> list[list[str]]:
        rules = []
        for source, destination in ((a, b), (b, a)):
            # a reset ends open connections at once, as a real cut noticed by both sides would
            rules.append(self._rule("-s", source, "-d", destination, "-p", "tcp",
                                    target=["REJECT", "--reject-with", "tcp-reset"]))
            rules.append(self._rule("-s", source, "-d", destination, target=["DROP"]))
        return rules

    def cut(self, a: str, b: str, pids: tuple[int | None, int | None] = (None, None)) -> None:
        """No traffic between the two addresses, either way, until mend(). With the containers'
        pids, the connections already open between them are destroyed too (`ss -K` in each
        namespace), so both nodes notice now, not when traffic next crosses the cut (a real
        merod only noticed after ~75 s)."""
        for rule in self._cut_rules(a, b):
            self._insert(rule, "cutting the network between two nodes")
        for pid, other in ((pids[0], b), (pids[1], a)):
            if pid and shutil.which("ss") is not None:  # best effort: a kernel without SOCK_DESTROY waits for traffic
                subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-K", "dst", other],
                               capture_output=True, timeout=30, check=False)

    def mend(self, a: str, b: str) -> None:
        for rule in self._cut_rules(a, b):
            self._delete(rule)

    def _loss_rules(self, address: str, percent: float) -> list[list[str]]:
        probability = f"{percent / 100:.4f}"
        rules = []
        for side in ("-s", "-d"):
            for port in ("--sport", "--dport"):
                rules.append(self._rule(side, address, "-p", "tcp", port, str(SWARM_PORT), "-m", "statistic",
                                        "--mode", "random", "--probability", probability, target=["DROP"]))
        return rules

    def thin(self, address: str, percent: float) -> None:
        """Drop `percent` of the swarm packets to and from the address."""
        for rule in self._loss_rules(address, percent):
            self._insert(rule, "dropping a share of a node's swarm traffic")

    def delay(self, address: str, pid: int, delay_ms: int, jitter_ms: int) -> None:
        """netem on the container's interface, from the host in its network namespace."""
        argv = ["nsenter", f"--net=/proc/{pid}/ns/net", "tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
                "delay", f"{delay_ms}ms"] + ([f"{jitter_ms}ms"] if jitter_ms else [])
        try:
            _run(argv, "delaying a node's traffic")
        except FaultUnavailableError as error:
            if "qdisc kind is unknown" in str(error):
                raise FaultUnavailableError(
                    "delaying a node's traffic needs the kernel's netem qdisc (sch_netem), which this Docker host "
                    "lacks; loss_percent works without it"
                ) from None
            raise
        self.delayed[address] = pid

    def restore(self, address: str) -> None:
        """Neither loss nor delay for the address any more."""
        for percent in list(self._loss_percents(address)):
            for rule in self._loss_rules(address, percent):
                self._delete(rule)
        pid = self.delayed.pop(address, None)
        if pid is not None:
            subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "tc", "qdisc", "del", "dev", "eth0", "root"],
                           capture_output=True, timeout=30, check=False)

    def _loss_percents(self, address: str) -> set[float]:
        found = set()
        for line in _rules_listing():
            if self.tag in line and f"{address}/32" in line and "--probability" in line:
                found.add(float(line.split("--probability")[1].split()[0]) * 100)
        return found

    def clear(self) -> None:
        """Remove every rule of the cluster (teardown); netem goes with the containers."""
        remove_tagged(lambda tag: tag == self.tag)
        self.delayed.clear()


def _rules_listing() -> list[str]:
    if shutil.which("iptables") is None:
        return []
    completed = subprocess.run(["iptables", "-S", CHAIN], capture_output=True, text=True, timeout=30, check=False)
    return completed.stdout.splitlines() if completed.returncode == 0 else []


def tagged_rules() -> list[tuple[str, str]]:
    """(tag, rule as `-A` spec) of every rule a cluster of pytest-meronodes put in DOCKER-USER."""
    found = []
    for line in _rules_listing():
        match = TAG.search(line)
        if line.startswith("-A ") and match:
            found.append((match.group(1), line))
    return found


def remove_tagged(doomed: Callable[[str], bool]) -> list[str]:
    removed = []
    for tag, line in tagged_rules():
        if doomed(tag):
            spec = line.split(" ", 2)[2]  # after "-A DOCKER-USER"
            subprocess.run(["iptables", "-D", CHAIN, *shlex.split(spec)], capture_output=True, timeout=30, check=False)
            removed.append(f"iptables rule {tag}")
    return removed
