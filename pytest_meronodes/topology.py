"""How a cluster's nodes are wired: whom each node gets as bootstrap peers, and so how many peers
the mesh gate waits for. Pure functions of the node names and the topology asked for.

- "full": every node bootstraps from every other: N-1 dials per node, N^2 in all. The default up
  to FULL_MESH_MAX nodes, where it costs little and every test sees every peer.
- "ring": each node is wired to the node before and after it (2 peers).
- "star": the first node is wired to every other; the others to it alone.
- "random:K": a ring, plus random chords until each node has at least K wired peers (K >= 2;
  "random" is "random:3"). Seeded by the node names, so one spec always wires the same way.
- "auto" (the default): "full" up to FULL_MESH_MAX nodes, DEFAULT_SPARSE above.
- a mapping {name: [names]}: these links (either side may list one), which must connect every node.

A link is listed on both of its nodes: each dials the other, so whichever starts later reaches
the one already listening, and a restarted node dials its wired peers again. Every sparse wiring
is connected, and a node's wired peers are its only bootstrap peers: merod reports a peer count,
not whom it is connected to, so the mesh gate is "each node sees at least as many peers as it has
wired" (it may see more: merod's Kademlia and rendezvous discovery dial peers they learn)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

FULL_MESH_MAX = 10
DEFAULT_SPARSE = "random:3"
KINDS = ("auto", "full", "ring", "star", "random:K")
_RANDOM = re.compile(r"random(?::([0-9]+))?")
Wiring = tuple[tuple[str, ...], ...]  # each node's wired peers, in the order of the node names


def normalise(topology: Any, count: int) -> str | Mapping[str, Sequence[str]]:
    """The topology's canonical name ("auto" resolved for `count` nodes), or a custom mapping;
    ValueError says what is wrong."""
    if isinstance(topology, Mapping):
        return topology
    if not isinstance(topology, str):
        raise ValueError(f"topology must be one of {', '.join(KINDS)} or a dict of node name to peer names, "
                         f"got {topology!r}")
    text = topology.strip().lower()
    if text == "auto":
        return "full" if count <= FULL_MESH_MAX else DEFAULT_SPARSE
    if text in ("full", "ring", "star"):
        return text
    match = _RANDOM.fullmatch(text)
    if match is None:
        raise ValueError(f"unknown topology {topology!r}; use one of {', '.join(KINDS)} (e.g. random:4), "
                         "or a dict of node name to peer names")
    peers = int(match.group(1) or 3)
    if peers < 2:
        raise ValueError(f"topology {topology!r}: random:K needs K >= 2 (K=2 is a ring)")
    return f"random:{peers}"


def wire(topology: str | Mapping[str, Sequence[str]], names: Sequence[str]) -> Wiring:
    """Each node's wired peers; ValueError if a custom wiring names unknown nodes or leaves the
    cluster in pieces."""
    count = len(names)
    links: set[frozenset[int]] = set()
    if isinstance(topology, Mapping):
        links = _custom_links(topology, names)
    elif topology == "full":
        links = {frozenset((i, j)) for i in range(count) for j in range(i + 1, count)}
    elif topology == "ring":
        links = _ring(count)
    elif topology == "star":
        links = {frozenset((0, i)) for i in range(1, count)}
    else:
        links = _random(int(topology.split(":")[1]), names)
    peers: list[list[str]] = [[] for _ in names]
    for link in links:
        a, b = sorted(link)
        peers[a].append(names[b])
        peers[b].append(names[a])
    order = {name: i for i, name in enumerate(names)}
    wiring = tuple(tuple(sorted(node_peers, key=order.__getitem__)) for node_peers in peers)
    pieces = components(names, wiring)
    if len(pieces) > 1:
        raise ValueError(
            f"the wiring leaves the cluster in {len(pieces)} pieces ("
            + "; ".join(", ".join(piece) for piece in pieces) + "): gossip and sync need every node reachable"
        )
    return wiring


def components(names: Sequence[str], wiring: Wiring) -> list[list[str]]:
    """The connected pieces of a wiring, each in the order of the node names."""
    index = {name: i for i, name in enumerate(names)}
    unseen = set(range(len(names)))
    pieces = []
    while unseen:
        first = min(unseen)
        stack, piece = [first], {first}
        while stack:
            for peer in wiring[stack.pop()]:
                j = index[peer]
                if j not in piece:
                    piece.add(j)
                    stack.append(j)
        unseen -= piece
        pieces.append([names[i] for i in sorted(piece)])
    return pieces


def describe(topology: str | Mapping[str, Sequence[str]]) -> str:
    return "custom" if isinstance(topology, Mapping) else topology


def _ring(count: int) -> set[frozenset[int]]:
    if count < 2:
        return set()
    return {frozenset((i, (i + 1) % count)) for i in range(count)} if count > 2 else {frozenset((0, 1))}


def _random(wanted: int, names: Sequence[str]) -> set[frozenset[int]]:
    """A ring (connected whatever the draw) plus random chords until each node has `wanted`
    peers, or all the others if there are fewer."""
    count = len(names)
    links = _ring(count)
    degree = [0] * count
    for link in links:
        for i in link:
            degree[i] += 1
    target = min(wanted, count - 1)
    seed = hashlib.sha256(f"{wanted}|{'|'.join(names)}".encode()).digest()
    draw = random.Random(seed)  # not for security: one spec, one wiring, every run
    for i in draw.sample(range(count), count):
        candidates = [j for j in range(count) if j != i and frozenset((i, j)) not in links]
        draw.shuffle(candidates)
        candidates.sort(key=lambda j: degree[j] >= target)  # the short of peers first
        for j in candidates:
            if degree[i] >= target:
                break
            links.add(frozenset((i, j)))
            degree[i] += 1
            degree[j] += 1
    return links


def _custom_links(topology: Mapping[str, Sequence[str]], names: Sequence[str]) -> set[frozenset[int]]:
    index = {name: i for i, name in enumerate(names)}
    links: set[frozenset[int]] = set()
    for name, peers in topology.items():
        if name not in index:
            raise ValueError(f"topology names unknown node {name!r}; the nodes are {', '.join(names)}")
        if isinstance(peers, str) or not isinstance(peers, Sequence):
            raise ValueError(f"topology[{name!r}] must be a list of node names, got {peers!r}")
        for peer in peers:
            if peer not in index:
                raise ValueError(f"topology[{name!r}] names unknown node {peer!r}; the nodes are {', '.join(names)}")
            if peer == name:
                raise ValueError(f"topology[{name!r}] wires {name!r} to itself")
            links.add(frozenset((index[name], index[peer])))
    return links
