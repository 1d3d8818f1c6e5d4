"""config.toml as merod writes it: generation at init, validation, dotted-key edits, atomic writes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from .identity import Identity

CONFIG_FILE = "config.toml"
REQUIRED_SECTIONS = ("swarm", "server", "sync", "datastore", "blobstore", "context")
CALIMERO_DEV_BOOT_NODES = [
    "/ip4/18.156.18.6/udp/4001/quic-v1/p2p/12D3KooWMgoF9xzyeKJHtRvrYwdomheRbHPELagWZwTLmXb6bCVC",
    "/ip4/18.156.18.6/tcp/4001/p2p/12D3KooWMgoF9xzyeKJHtRvrYwdomheRbHPELagWZwTLmXb6bCVC",
]
IPFS_BOOT_NODES = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
]

# Known keys and the TOML type they must have; `config key=value` and `run` refuse other types.
_TYPED_KEYS: dict[str, type | tuple[type, ...]] = {
    "mode": str,
    "swarm.listen": list,
    "server.listen": list,
    "server.auth_mode": str,
    "bootstrap.nodes": list,
    "discovery.mdns": bool,
    "discovery.rendezvous.namespace": str,
    "sync.timeout_ms": int,
    "sync.interval_ms": int,
    "sync.frequency_ms": int,
    "datastore.path": str,
    "blobstore.path": str,
}


class ConfigError(Exception):
    """config.toml cannot be read, parsed or is not a valid merod config."""


@dataclass(frozen=True)
class Multiaddr:
    protocol: str  # ip4, ip6 or dns4
    host: str
    transport: str  # tcp or udp
    port: int
    peer_id: str | None

    @classmethod
    def parse(cls, text: str) -> Multiaddr:
        parts = text.split("/")
        if len(parts) < 5 or parts[0] != "" or parts[1] not in ("ip4", "ip6", "dns4", "dns"):
            raise ValueError(f"unsupported multiaddr {text!r}")
        protocol, host, transport, port_text = parts[1], parts[2], parts[3], parts[4]
        if transport not in ("tcp", "udp") or not port_text.isdigit():
            raise ValueError(f"unsupported multiaddr {text!r}")
        rest = parts[5:]
        peer_id = None
        if "p2p" in rest:
            index = rest.index("p2p")
            if index + 1 >= len(rest):
                raise ValueError(f"multiaddr {text!r} has /p2p/ without a peer id")
            peer_id = rest[index + 1]
        return cls(protocol, host, transport, int(port_text), peer_id)


def listen_addrs(hosts: str, port: int, *, quic: bool) -> list[str]:
    addrs = []
    for host in (h.strip() for h in hosts.split(",")):
        if not host:
            continue
        family = "ip6" if ":" in host else "ip4"
        addrs.append(f"/{family}/{host}/tcp/{port}")
        if quic:
            addrs.append(f"/{family}/{host}/udp/{port}/quic-v1")
    return addrs


def embedded_auth_section(storage: str) -> dict[str, Any]:
    return {
        "listen_addr": "127.0.0.1:3001",
        "jwt": {
            "issuer": "calimero-auth",
            "access_token_expiry": 3600,
            "refresh_token_expiry": 2592000,
        },
        "storage": {"type": "rocksdb", "path": "auth"}
        if storage == "persistent"
        else {"type": "memory"},
        "providers": {"user_password": True},
    }


def generate(
    identity: Identity,
    *,
    server_host: str,
    server_port: int,
    swarm_host: str,
    swarm_port: int,
    boot_nodes: list[str],
    auth_mode: str,
    auth_storage: str,
    mdns: bool,
) -> dict[str, Any]:
    server: dict[str, Any] = {
        "listen": listen_addrs(server_host, server_port, quic=False),
        "auth_mode": auth_mode,
        "admin": {"enabled": True},
        "jsonrpc": {"enabled": True},
        "websocket": {"enabled": True, "ping_interval_secs": 30, "pong_timeout_secs": 10},
        "sse": {"enabled": True},
    }
    if auth_mode == "embedded":
        server["embedded_auth"] = embedded_auth_section(auth_storage)
    return {
        "mode": "standard",
        "identity": {"peer_id": identity.peer_id, "keypair": identity.keypair},
        "swarm": {"listen": listen_addrs(swarm_host, swarm_port, quic=True)},
        "server": server,
        "bootstrap": {"nodes": boot_nodes},
        "discovery": {
            "mdns": mdns,
            "advertise_address": False,
            "external_address": [],
            "rendezvous": {
                "namespace": "/calimero/devnet/global",
                "discovery_rpm": 0.5,
                "registrations_limit": 3,
            },
            "relay": {"registrations_limit": 3},
        },
        "sync": {
            "timeout_ms": 30000,
            "session_deadline_ms": 30000,
            "interval_ms": 5000,
            "frequency_ms": 10000,
        },
        "datastore": {"path": "data"},
        "blobstore": {"path": "blobs"},
        "context": {"migration_v2": True},
    }


def get_dotted(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"invalid key {key!r}")
    node = config
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {part!r} is not a table")
        node = child
    node[parts[-1]] = value


def parse_value(text: str) -> Any:
    """Parse the right side of `key=value` as a TOML value, as merod does."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML value {text!r}: {error}") from None


def validate(config: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_SECTIONS if not isinstance(config.get(name), dict)]
    if missing:
        raise ConfigError(f"missing required section(s): {', '.join(missing)}")
    for key, expected in _TYPED_KEYS.items():
        value = get_dotted(config, key)
        # bool is an int in Python, but not in TOML
        wrong_bool = expected is int and isinstance(value, bool)
        if value is not None and (not isinstance(value, expected) or wrong_bool):
            raise ConfigError(f"invalid value for {key!r}: {value!r}")
    if get_dotted(config, "server.auth_mode") not in (None, "proxy", "embedded"):
        raise ConfigError("server.auth_mode must be \"proxy\" or \"embedded\"")
    for key in ("swarm.listen", "server.listen", "bootstrap.nodes"):
        for addr in get_dotted(config, key) or []:
            if not isinstance(addr, str) or not _plausible_multiaddr(addr):
                raise ConfigError(f"invalid multiaddr in {key!r}: {addr!r}")


def _plausible_multiaddr(addr: str) -> bool:
    """IP and DNS addresses must parse; other protocols (/dnsaddr/...) are only passed on."""
    if addr.split("/")[1:2] in (["ip4"], ["ip6"], ["dns4"], ["dns"]):
        try:
            Multiaddr.parse(addr)
        except ValueError:
            return False
        return True
    return addr.startswith("/")


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    validate(config)
    return config


def write_atomic(path: Path, data: bytes) -> None:
    """Write a 0600 file through a temporary file and a rename, so a reader never sees half."""
    import tempfile  # imported here: a running node rarely writes, and start-up time counts

    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(path: Path, config: dict[str, Any]) -> None:
    import tomli_w  # only init and `config` write TOML

    write_atomic(path, tomli_w.dumps(config).encode("utf-8"))
