"""config.toml as merod writes and reads it (crates/config, crates/merod/src/cli): generation at
init with every section of the recorded file, validation (types of known keys, as the node's
serde deserializes them, and merod's limits), dotted-key edits, atomic writes."""

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
# the sections ConfigFile has no default for (a missing [identity] is a fresh one at each start)
REQUIRED_SECTIONS = ("swarm", "server", "sync", "datastore", "blobstore", "context")
# ConfigFile flattens its network sections: the toml crate reports their errors at the start of
# the document, not at the key
_FLATTENED = ("swarm", "server", "bootstrap", "discovery")
# BootstrapNodes::calimero_dev() of the recorded build
CALIMERO_DEV_BOOT_NODES = [
    "/ip4/63.181.86.34/udp/4001/quic-v1/p2p/12D3KooWR5V4zmisVtVdGE6i8jfFwtgRNq5t8eDGxfckKuhXu7Eh",
    "/ip4/63.181.86.34/tcp/4001/p2p/12D3KooWR5V4zmisVtVdGE6i8jfFwtgRNq5t8eDGxfckKuhXu7Eh",
]
IPFS_BOOT_NODES = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
]
MULTIADDR_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6", "dnsaddr")

# The types of the keys merod's config structs know (serde: a wrong type is a load error).
# Keys nobody reads (a typo, a future option) are accepted and ignored, as merod does.
_U64, _BOOL, _STR, _ADDRS, _F32 = "u64", "a boolean", "a string", "multiaddrs", "f32"
_TYPED_KEYS: dict[str, str] = {
    "mode": "mode",
    "identity.peer_id": _STR,
    "identity.keypair": _STR,
    "swarm.listen": _ADDRS,
    "server.listen": _ADDRS,
    "server.auth_mode": "auth_mode",
    "server.admin.enabled": _BOOL,
    "server.jsonrpc.enabled": _BOOL,
    "server.websocket.enabled": _BOOL,
    "server.websocket.ping_interval_secs": _U64,
    "server.websocket.pong_timeout_secs": _U64,
    "server.sse.enabled": _BOOL,
    "server.embedded_auth.listen_addr": _STR,
    "server.embedded_auth.jwt.issuer": _STR,
    "server.embedded_auth.jwt.access_token_expiry": _U64,
    "server.embedded_auth.jwt.refresh_token_expiry": _U64,
    "server.embedded_auth.user_password.min_password_length": _U64,
    "server.embedded_auth.user_password.max_password_length": _U64,
    "bootstrap.nodes": _ADDRS,
    "discovery.mdns": _BOOL,
    "discovery.advertise_address": _BOOL,
    "discovery.external_address": _ADDRS,
    "discovery.rendezvous.namespace": _STR,
    "discovery.rendezvous.discovery_rpm": _F32,
    "discovery.rendezvous.registrations_limit": _U64,
    "discovery.relay.registrations_limit": _U64,
    "discovery.autonat.max_candidates": _U64,
    "sync.timeout_ms": _U64,
    "sync.session_deadline_ms": _U64,
    "sync.interval_ms": _U64,
    "sync.frequency_ms": _U64,
    "datastore.path": _STR,
    "blobstore.path": _STR,
    "context.migration_v2": _BOOL,
    "dag_compaction.enabled": _BOOL,
    "dag_compaction.min_deltas_before_compact": _U64,
    "dag_compaction.retain_recent_count": _U64,
    "dag_compaction.check_interval": _U64,
}
# crates/merod/src/cli/validation.rs
_DURATION_LIMITS = (  # (key, name in messages, min ms, max ms)
    ("sync.timeout_ms", "sync.timeout", 1000, 300_000),
    ("sync.interval_ms", "sync.interval", 100, 3_600_000),
    ("sync.frequency_ms", "sync.frequency", 100, 3_600_000),
    ("sync.session_deadline_ms", "sync.session_deadline", 1000, 600_000),
)
MAX_REGISTRATIONS_LIMIT = 100


class ConfigError(Exception):
    """config.toml cannot be read, parsed or is not a valid merod config. `context` is the
    outer message of an eyre chain (`Limit values validation failed`), if any."""

    def __init__(self, message: str, context: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def chain(self) -> list[str]:
        return [self.context, self.message] if self.context else [self.message]


@dataclass(frozen=True)
class Multiaddr:
    protocol: str  # ip4, ip6, dns, dns4 or dns6
    host: str
    transport: str  # tcp or udp
    port: int
    peer_id: str | None
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Multiaddr:
        parts = text.split("/")
        if len(parts) < 5 or parts[0] != "" or parts[1] not in ("ip4", "ip6", "dns", "dns4", "dns6"):
            raise ValueError(f"unsupported multiaddr {text!r}")
        protocol, host, transport, port_text = parts[1], parts[2], parts[3], parts[4]
        if transport not in ("tcp", "udp") or not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"unsupported multiaddr {text!r}")
        rest = parts[5:]
        peer_id = None
        if "p2p" in rest:
            index = rest.index("p2p")
            if index + 1 >= len(rest):
                raise ValueError(f"multiaddr {text!r} has /p2p/ without a peer id")
            peer_id = rest[index + 1]
        return cls(protocol, host, transport, int(port_text), peer_id, text)

    @property
    def is_dns(self) -> bool:
        return self.protocol.startswith("dns")


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


def embedded_auth_section(storage: str, storage_path: str) -> dict[str, Any]:
    """mero_auth::embedded::default_config(), with the storage init chose."""
    return {
        "listen_addr": "127.0.0.1:3001",
        "jwt": {"issuer": "calimero-auth", "access_token_expiry": 3600, "refresh_token_expiry": 2592000},
        "storage": {"type": "rocksdb", "path": storage_path} if storage == "persistent" else {"type": "memory"},
        "cors": {
            "allow_all_origins": False,
            "allowed_origins": [],
            "allowed_methods": ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            "allowed_headers": ["Authorization", "Content-Type", "Accept"],
            "exposed_headers": [],
        },
        "security": {
            "max_body_size": 1048576,
            "headers": {
                "enabled": True,
                "hsts_max_age": 31536000,
                "hsts_include_subdomains": True,
                "frame_options": "DENY",
                "content_type_options": "nosniff",
                "referrer_policy": "strict-origin-when-cross-origin",
                "csp": {
                    "enabled": True,
                    "default_src": ["'self'"],
                    "script_src": ["'self'", "'unsafe-inline'", "'unsafe-eval'"],
                    "style_src": ["'self'", "'unsafe-inline'"],
                    "connect_src": [
                        "'self'", "http://localhost:*", "http://host.docker.internal:*", "http://*.nip.io:*",
                        "https://*.nip.io:*", "https:", "http:",
                    ],
                },
            },
        },
        "providers": {"user_password": True},
        "user_password": {"min_password_length": 8, "max_password_length": 128},
        "development": {"enable_mock_auth": False, "mock_auth_require_header": True},
    }


def generate(
    identity: Identity,
    *,
    mode: str,
    server_host: str,
    server_port: int,
    swarm_host: str,
    swarm_port: int,
    boot_nodes: list[str],
    auth_mode: str,
    auth_storage: str,
    auth_storage_path: str,
    mdns: bool,
    advertise_address: bool,
    external_address: list[str],
    rendezvous_registrations_limit: int,
    relay_registrations_limit: int,
    autonat_probe_interval: int,
    autonat_max_candidates: int,
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
        server["embedded_auth"] = embedded_auth_section(auth_storage, auth_storage_path)
    return {
        "mode": mode,
        "identity": {"peer_id": identity.peer_id, "keypair": identity.keypair},
        "swarm": {"listen": listen_addrs(swarm_host, swarm_port, quic=True)},
        "server": server,
        "bootstrap": {"nodes": boot_nodes},
        "discovery": {
            "mdns": mdns,
            "advertise_address": advertise_address,
            "external_address": external_address,
            "rendezvous": {
                "namespace": "/calimero/devnet/global",
                "discovery_rpm": 0.5,
                "registrations_limit": rendezvous_registrations_limit,
                "discovery_interval": {"secs": 15, "nanos": 0},
            },
            "relay": {"registrations_limit": relay_registrations_limit},
            "autonat": {
                "max_candidates": autonat_max_candidates,
                "probe_interval": {"secs": autonat_probe_interval, "nanos": 0},
            },
        },
        "sync": {"timeout_ms": 30000, "session_deadline_ms": 30000, "interval_ms": 5000, "frequency_ms": 10000},
        "datastore": {"path": "data"},
        "blobstore": {"path": "blobs"},
        "context": {"migration_v2": True},
        "runtime": {"limits": {}},
        "dag_compaction": {
            "enabled": True,
            "min_deltas_before_compact": 10000,
            "retain_recent_count": 1000,
            "check_interval": 3600,
        },
    }


def get_dotted(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    """`merod config key=value`: tables are created on the way; a non-table on the way fails."""
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set '{key}': '{part}' is not a table")
        node = child
    node[parts[-1]] = value


class TomlValueError(ValueError):
    """A `config` argument whose value is not TOML: the text clap prints after the argument."""


def parse_value(text: str) -> Any:
    """The right side of `key=value` as a TOML value (toml_edit's `Value::from_str`)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        column = 1
        if "(at line 1, column " in message:
            column = max(1, int(message.rsplit("column ", 1)[1].rstrip(")")) - len("value = "))
            message = message.split(" (at line")[0]
        elif "(at end of document)" in message:
            column = len(text) + 1
            message = message.split(" (at end")[0]
        caret = " " * (column - 1) + "^"
        raise TomlValueError(
            f"TOML parse error at line 1, column {column}\n  |\n1 | {text}\n  | {caret}\n{message}\n"
        ) from None


def _describe(value: Any) -> str:
    """How serde (the toml crate) names a value of the wrong type."""
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        from .serdejson import rust_debug_str

        return f"string {rust_debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return "date-time"


def _type_problem(kind: str, value: Any) -> str | None:
    if kind == _U64:
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else f"expected {kind}"
    if kind == _F32:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "expected f32"
    if kind == _BOOL:
        return None if isinstance(value, bool) else f"expected {kind}"
    if kind == _STR:
        return None if isinstance(value, str) else f"expected {kind}"
    if kind == "auth_mode":
        if not isinstance(value, str):
            return "expected a string"
        return None if value in ("proxy", "embedded") else "unknown variant"
    if kind == "mode":
        if not isinstance(value, str):
            return "expected a string"
        return None if value in ("standard", "readonly") else "unknown variant"
    if not isinstance(value, list):
        return "expected a sequence"
    return None


def _locate(text: str, key: str) -> tuple[int, int, str, int]:
    """Where the toml crate points for `key`: (line, column, the line, caret length)."""
    lines = text.splitlines()
    first = lines[0] if lines else ""
    whole_document = (1, 1, first, max(1, len(first)))
    if key.split(".")[0] in _FLATTENED:
        return whole_document
    parts = key.split(".")
    table, name = ".".join(parts[:-1]), parts[-1]
    current = ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped.strip("[]")
            continue
        if current == table and stripped.startswith(f"{name} ="):
            column = line.index("=") + 3
            return number, column, line, max(1, len(line) - column + 1)
    return whole_document


def _load_error(text: str, key: str, problem: str) -> ConfigError:
    line, column, source, length = _locate(text, key)
    gutter = " " * len(str(line))
    return ConfigError(
        f"TOML parse error at line {line}, column {column}\n{gutter} |\n{line} | {source}\n"
        f"{gutter} | {' ' * (column - 1)}{'^' * length}\n{problem}\n"
    )


def multiaddr_problem(addr: str) -> str | None:
    """The multiaddr crate's complaint about an address, if it has one."""
    if not addr.startswith("/"):
        return "invalid multiaddr"
    parts = addr.split("/")[1:]
    known = {"ip4": 1, "ip6": 1, "dns": 1, "dns4": 1, "dns6": 1, "dnsaddr": 1, "tcp": 1, "udp": 1, "p2p": 1,
             "quic-v1": 0, "quic": 0, "ws": 0, "wss": 0, "tls": 0, "http": 0, "p2p-circuit": 0, "webrtc": 0}
    index = 0
    while index < len(parts):
        protocol = parts[index]
        if protocol not in known:
            return f"unknown protocol string: {protocol}"
        arguments = known[protocol]
        if arguments and index + 1 >= len(parts):
            return "invalid multiaddr"
        if arguments:
            value = parts[index + 1]
            if protocol in ("tcp", "udp"):
                if not value.isdigit():
                    return "failed to parse: invalid digit found in string"
                if int(value) > 65535:
                    return "failed to parse: number too large to fit in target type"
            if protocol in ("ip4", "ip6"):
                import ipaddress

                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    return "failed to parse: invalid IP address syntax"
        index += 1 + arguments
    return None


def validate(config: dict[str, Any], text: str | None = None) -> None:
    """What merod checks when it loads a config (ConfigFile::load, then validate_config)."""
    import tomli_w

    rendered = text if text is not None else tomli_w.dumps(config)
    for name in REQUIRED_SECTIONS:
        if not isinstance(config.get(name), dict):
            raise _load_error(rendered, "swarm", f"missing field `{name}`")
    for key, kind in _TYPED_KEYS.items():
        value = get_dotted(config, key)
        if value is None:
            continue
        problem = _type_problem(kind, value)
        if problem == "unknown variant":
            variants = "`proxy` or `embedded`" if kind == "auth_mode" else "`standard` or `readonly`"
            raise _load_error(rendered, key, f"unknown variant `{value}`, expected {variants}")
        if problem is not None:
            raise _load_error(rendered, key, f"invalid type: {_describe(value)}, {problem}")
        if kind == _ADDRS:
            for addr in value:
                problem = multiaddr_problem(addr) if isinstance(addr, str) else "invalid type"
                if problem is not None:
                    raise _load_error(rendered, key, problem)
    _validate_limits(config)


def rust_duration(ms: int) -> str:
    """`{:?}` of a Duration of `ms` milliseconds."""
    if ms >= 1000:
        seconds = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
        return f"{seconds}s"
    return f"{ms}ms"


def _validate_limits(config: dict[str, Any]) -> None:
    context = "Limit values validation failed"
    for key, name, low, high in _DURATION_LIMITS:
        value = get_dotted(config, key)
        if value is None:
            continue
        if value < low:
            raise ConfigError(
                f"{name} ({rust_duration(value)}) is below minimum allowed value ({rust_duration(low)})", context
            )
        if value > high:
            raise ConfigError(
                f"{name} ({rust_duration(value)}) exceeds maximum allowed value ({rust_duration(high)})", context
            )
    for key in ("discovery.rendezvous.registrations_limit", "discovery.relay.registrations_limit"):
        value = get_dotted(config, key)
        if value == 0:
            raise ConfigError(f"{key} must be greater than 0", context)
        if value is not None and value > MAX_REGISTRATIONS_LIMIT:
            raise ConfigError(
                f"{key} ({value}) exceeds maximum allowed value ({MAX_REGISTRATIONS_LIMIT})", context
            )
    if get_dotted(config, "discovery.autonat.max_candidates") == 0:
        raise ConfigError("discovery.autonat.max_candidates must be greater than 0", context)
    if get_dotted(config, "server.auth_mode") == "embedded" and get_dotted(config, "server.embedded_auth") is None:
        raise ConfigError(
            "Auth mode is set to 'embedded' but no embedded_auth configuration is provided. Either provide "
            "embedded_auth configuration or change auth_mode to 'proxy'.",
            "Credentials validation failed",
        )
    access = get_dotted(config, "server.embedded_auth.jwt.access_token_expiry")
    refresh = get_dotted(config, "server.embedded_auth.jwt.refresh_token_expiry")
    if access == 0:
        raise ConfigError("embedded_auth.jwt.access_token_expiry must be greater than 0", context)
    if refresh == 0:
        raise ConfigError("embedded_auth.jwt.refresh_token_expiry must be greater than 0", context)
    if access is not None and refresh is not None and access >= refresh:
        raise ConfigError(
            f"embedded_auth.jwt.access_token_expiry ({access}) should be less than refresh_token_expiry ({refresh})",
            context,
        )


def parse_document(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(error)) from None


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ConfigError(f"failed to read configuration from \"{path}\": {error.strerror}") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"TOML parse error: {error}") from None
    validate(config, text)
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


def render(config: dict[str, Any]) -> str:
    """TOML as merod writes it: tomli_w's, with one-element arrays on one line (as the toml crate)."""
    import re

    import tomli_w  # only init and `config` write TOML

    return re.sub(r"= \[\n    ([^\n]*),\n\]", r"= [\1]", str(tomli_w.dumps(config)))


def save(path: Path, config: dict[str, Any]) -> None:
    write_atomic(path, render(config).encode("utf-8"))
