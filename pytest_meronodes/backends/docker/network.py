"""The cluster's network: a bridge on a subnet Docker itself offers as free, so that every node
can have a fixed address known before the first start (bootstrap peers are /ip4 multiaddrs:
merod's swarm dials no DNS names)."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

from ...errors import ConfigurationError, NodeStartError


def node_addresses(subnet: str, count: int) -> tuple[list[str], str]:
    """Fixed addresses for `count` nodes from the lower half of the subnet (after the gateway),
    and the upper half, left to Docker for everything else on the network (Traefik, auth)."""
    network = ipaddress.ip_network(subnet)
    lower, upper = network.subnets(prefixlen_diff=1)
    hosts = [str(lower.network_address + offset) for offset in range(2, 2 + count)]
    if count > lower.num_addresses - 3:
        raise ConfigurationError(f"a cluster of {count} nodes does not fit Docker's network {subnet}")
    return hosts, str(upper)



def create_network(client: Any, name: str, labels: dict[str, str], count: int) -> tuple[Any, list[str]]:
    """A bridge network on a subnet Docker itself offers as free (taken from a throwaway
    network), so nodes can have fixed addresses. A concurrent session may take the same
    subnet first: then try another."""
    for _ in range(5):
        probe = client.networks.create(f"{name}-probe", driver="bridge", labels=labels)
        try:
            probe.reload()
            pools = [pool for pool in probe.attrs["IPAM"]["Config"] if ":" not in pool.get("Subnet", ":")]
        finally:
            with contextlib.suppress(NotFound):
                probe.remove()  # an error here is raised: the subnet would stay taken
        if not pools:
            raise NodeStartError(name, "Docker gave the cluster network no IPv4 subnet; merod's nodes need "
                                       "IPv4 addresses to dial each other (check the daemon's address pools)")
        subnet, gateway = pools[0]["Subnet"], pools[0].get("Gateway")
        addresses, dynamic = node_addresses(subnet, count)
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, iprange=dynamic, gateway=gateway)])
        try:
            network = client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
        except APIError as error:
            if "overlap" in str(error).lower():
                continue
            raise
        return network, addresses
    raise NodeStartError(name, "could not get a free subnet from Docker for the cluster network (5 tries)")
