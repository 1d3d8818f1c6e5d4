"""The simulated libp2p swarm: a TCP listener, dials to bootstrap and learned peers, one live
connection per peer, newline-delimited JSON messages.

It is not libp2p: simulator nodes speak only to simulator nodes. What it keeps from merod's libp2p
swarm is what the plugin observes: peer ids, multiaddr dialling of /ip4 and /ip6 addresses (merod
has no DNS transport: a /dns4 or /dns address is never dialled), bootstrap retries, peer exchange
and connection counts that drop when a peer dies."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .logs import Logger
from .nodeconfig import Multiaddr

TARGET = "calimero_network"
# Keep-alive, as libp2p's ping protocol does (merod: every 15 s, a 20 s timeout), faster so that
# tests of a paused or cut-off node see its peers drop it within seconds: every connection carries
# a ping every PING_INTERVAL, and one silent for IDLE_TIMEOUT (a frozen peer, a cut link, lost
# packets) is closed; the bootstrap loops dial it again once it answers. A node with many peers
# pings each less often (at most PINGS_PER_SECOND in all: a 100-node cluster of Python processes
# would otherwise spend the machine on pings); each ping says when the next one comes, and the
# peer waits IDLE_FACTOR times that before it gives up.
PING_INTERVAL = 0.5
IDLE_TIMEOUT = 3.0
IDLE_FACTOR = IDLE_TIMEOUT / PING_INTERVAL
PINGS_PER_SECOND = 20.0
Message = dict[str, Any]
MessageHandler = Callable[[str, Message], None]


@dataclass(frozen=True)
class DialTarget:
    host: str
    port: int
    peer_id: str | None


def is_public(host: str) -> bool:
    """True for a globally routable IP address."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_global
    except ValueError:
        return False


class Connection:
    def __init__(self, sock: socket.socket, *, outbound: bool, remote: DialTarget) -> None:
        self.sock = sock
        self.outbound = outbound
        self.remote = remote  # for inbound connections: the peer's address and announced port
        self.peer_id: str | None = None
        self.first_ping: object = None  # when the peer's first ping comes, as its hello said
        self._reader = sock.makefile("rb")
        self._write_lock = threading.Lock()

    def send(self, message: Message) -> bool:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        try:
            with self._write_lock:
                self.sock.sendall(data)
        except OSError:
            return False
        return True

    def receive(self) -> Message | None:
        try:
            line = self._reader.readline()
        except (OSError, ValueError):
            return None
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()


class Swarm:
    def __init__(
        self,
        *,
        peer_id: str,
        listen: list[str],
        bootstrap: list[str],
        log: Logger,
        on_message: MessageHandler,
    ) -> None:
        self.peer_id = peer_id
        self.log = log
        self.on_message = on_message
        self._listen = [Multiaddr.parse(a) for a in listen]
        self._bootstrap: list[DialTarget] = []
        for text in bootstrap:
            try:
                addr = Multiaddr.parse(text)
            except ValueError:
                log.warn(TARGET, f"ignoring unsupported bootstrap address {text}")
                continue
            if addr.transport != "tcp":
                continue
            if addr.is_dns:
                log.warn(TARGET, f"not dialing {text}: merod has no DNS transport, a /{addr.protocol} address is "
                                 f"never dialled (use /ip4 or /ip6)")
                continue
            if is_public(addr.host):
                # e.g. the calimero-dev boot nodes that init adds: a simulator never leaves the
                # machine (and its own container networks)
                log.warn(TARGET, f"not dialing public address {text}: the simulator only dials local peers")
                continue
            self._bootstrap.append(DialTarget(addr.host, addr.port, addr.peer_id))
        self._listeners: list[socket.socket] = []
        self._peers: dict[str, Connection] = {}
        self._dialing: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._learning: set[str] = set()  # peer ids of learned peers being dialled
        self._met: list[Connection] = []  # connections registered since the last ping round
        self._next_ping = PING_INTERVAL  # seconds until this node's next ping
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def bind(self) -> None:
        for addr in self._listen:
            if addr.transport != "tcp":
                continue  # QUIC is not simulated; TCP on the same port number is
            family = socket.AF_INET6 if addr.protocol == "ip6" else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((addr.host, addr.port))
            except OSError as error:
                sock.close()
                if family == socket.AF_INET6 and not self._is_fatal_ipv6(error):
                    self.log.warn(TARGET, f"not listening on {addr.host}: {error}")
                    continue
                raise
            sock.listen(64)
            self._listeners.append(sock)
            self.port = addr.port
            self.log.info(TARGET, f"Listening on /{addr.protocol}/{addr.host}/tcp/{addr.port}")

    @staticmethod
    def _is_fatal_ipv6(error: OSError) -> bool:
        # Hosts and containers without IPv6 cannot bind ::; that is not the user's mistake.
        return error.errno not in (97, 99)  # EAFNOSUPPORT, EADDRNOTAVAIL

    def start(self) -> None:
        for listener in self._listeners:
            self._spawn(self._accept_loop, listener)
        for target in self._bootstrap:
            self._spawn(self._bootstrap_loop, target)
        self._spawn(self._ping_loop)

    def ping_interval(self) -> float:
        with self._lock:
            return max(PING_INTERVAL, len(self._peers) / PINGS_PER_SECOND)

    def _ping_loop(self) -> None:
        """Pings, which also carry the peers this node met since the last round (peer exchange
        in one message per connection and round, instead of one per connection and newcomer:
        that grew as N^3 while a large cluster meshed)."""
        while not self._stopping.wait(self._next_ping):
            with self._lock:
                met, self._met = self._met, []
                connections = list(self._peers.values())
            self._next_ping = self.ping_interval()
            ping: Message = {"t": "ping", "next": self._next_ping}
            if met:
                ping["peers"] = [self._describe(c) for c in met if c.peer_id is not None]
            for connection in connections:
                if met and connection in met:  # a newcomer got the whole list at its handshake
                    connection.send({"t": "ping", "next": self._next_ping})
                else:
                    connection.send(ping)

    def stop(self) -> None:
        self._stopping.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections = list(self._peers.values())
            self._peers.clear()
        for connection in connections:
            connection.close()
        # no join: the swarm's threads only read and write closed sockets now, they hold nothing
        # to save, and they die with the process (joining a hundred of them cost a large
        # cluster's teardown seconds)

    def _spawn(self, target: Callable[..., object], *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    # -- queries and sending --------------------------------------------------------------------
    def peers(self) -> list[str]:
        with self._lock:
            return sorted(self._peers)

    def broadcast(self, message: Message) -> None:
        with self._lock:
            connections = list(self._peers.values())
        for connection in connections:
            connection.send(message)

    def send(self, peer_id: str, message: Message) -> None:
        with self._lock:
            connection = self._peers.get(peer_id)
        if connection is not None:
            connection.send(message)

    # -- connecting -----------------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, address = listener.accept()
            except OSError:
                return
            remote = DialTarget(address[0], 0, None)
            self._spawn(self._run_connection, Connection(sock, outbound=False, remote=remote))

    def _bootstrap_loop(self, target: DialTarget) -> None:
        """Keep a bootstrap peer connected, as libp2p's periodic bootstrap does: retry quickly
        while the cluster is still starting, then back off."""
        delay = 0.01
        eager_until = time.monotonic() + 2.0  # peers of a starting cluster come up within ~0.1 s
        while not self._stopping.is_set():
            if not self._connected_to(target):
                if self._dial(target):
                    delay = 0.01
                elif time.monotonic() > eager_until:
                    delay = min(delay * 1.5, 1.0)
            if self._stopping.wait(delay if not self._connected_to(target) else 0.5):
                return

    def _connected_to(self, target: DialTarget) -> bool:
        with self._lock:
            if target.peer_id is not None:
                return target.peer_id in self._peers
            return any(
                (c.remote.host, c.remote.port) == (target.host, target.port)
                for c in self._peers.values()
            )

    def _dial(self, target: DialTarget) -> bool:
        key = (target.host, target.port)
        with self._lock:
            if key in self._dialing or self._stopping.is_set():
                return False
            self._dialing.add(key)
        try:
            if is_public(target.host):
                raise OSError("public address")
            sock = socket.create_connection(key, timeout=1.0)
        except OSError:
            with self._lock:
                self._dialing.discard(key)
            return False
        sock.settimeout(None)
        connection = Connection(sock, outbound=True, remote=target)
        established = threading.Event()
        self._spawn(self._run_connection, connection, established)
        established.wait(timeout=2.0)
        with self._lock:
            self._dialing.discard(key)
        return connection.peer_id is not None

    def _dial_learned(self, peers: list[Any]) -> None:
        """Dial each learned peer not connected yet, once: in a large cluster every peer hears of a
        newcomer from many others, and a thread per hearing would swamp the machine."""
        for entry in peers:
            if not isinstance(entry, dict):
                continue
            peer_id, host, port = entry.get("id"), entry.get("host"), entry.get("port")
            if not isinstance(peer_id, str) or not isinstance(host, str) or not isinstance(port, int):
                continue
            with self._lock:
                known = peer_id == self.peer_id or peer_id in self._peers or peer_id in self._learning
                if not known:
                    self._learning.add(peer_id)
            if not known:
                self._spawn(self._dial_once, DialTarget(host, port, peer_id))

    def _dial_once(self, target: DialTarget) -> None:
        try:
            self._dial(target)
        finally:
            with self._lock:
                self._learning.discard(target.peer_id or "")

    def _run_connection(self, connection: Connection, established: threading.Event | None = None) -> None:
        try:
            if not self._handshake(connection):
                return
            if established is not None:
                established.set()
            # reads and writes alike: a peer silent this long is gone (its pings stopped)
            self._expect_ping(connection, connection.first_ping)
            while not self._stopping.is_set():
                message = connection.receive()
                if message is None:
                    break
                if message.get("t") == "ping":
                    self._expect_ping(connection, message.get("next"))
                    if message.get("peers"):
                        self._dial_learned(message["peers"])
                    continue
                if message.get("t") == "peers":
                    self._dial_learned(message.get("peers") or [])
                elif connection.peer_id is not None:
                    self.on_message(connection.peer_id, message)
        finally:
            if established is not None:
                established.set()
            self._forget(connection)
            connection.close()

    @staticmethod
    def _expect_ping(connection: Connection, interval: object) -> None:
        """The next ping from this peer comes within `interval` seconds (as it said): a silence
        IDLE_FACTOR times as long means it is gone."""
        seconds = float(interval) if isinstance(interval, (int, float)) and not isinstance(interval, bool) else 0.0
        with contextlib.suppress(OSError):  # closed meanwhile (a preferred duplicate): receive() ends it
            connection.sock.settimeout(max(IDLE_TIMEOUT, IDLE_FACTOR * seconds))

    def _handshake(self, connection: Connection) -> bool:
        hello = {"t": "hello", "id": self.peer_id, "port": self.port, "next": self._next_ping}
        if not connection.send(hello):
            return False
        connection.sock.settimeout(2.0)
        reply = connection.receive()
        connection.sock.settimeout(None)
        if reply is None or reply.get("t") != "hello" or not isinstance(reply.get("id"), str):
            return False
        connection.first_ping = reply.get("next")
        peer_id: str = reply["id"]
        expected = connection.remote.peer_id
        if expected is not None and expected != peer_id:
            self.log.warn(TARGET, f"peer at {connection.remote.host} is {peer_id}, not {expected}")
            return False
        if peer_id == self.peer_id:
            return False
        if not connection.outbound:
            port = reply.get("port")
            connection.remote = DialTarget(connection.remote.host, int(port or 0), peer_id)
        connection.peer_id = peer_id
        return self._register(connection)

    def _register(self, connection: Connection) -> bool:
        peer_id = connection.peer_id
        assert peer_id is not None
        with self._lock:
            existing = self._peers.get(peer_id)
            if existing is not None and not self._prefer(connection, existing):
                return False
            self._peers[peer_id] = connection
            others = [c for p, c in self._peers.items() if p != peer_id]
            self._met.append(connection)
        if existing is not None:
            existing.close()
        else:
            self.log.info(TARGET, f"Connection established with peer {peer_id}")
        # Peer exchange: the newcomer hears of everyone now; everyone hears of the newcomer with
        # the next ping round
        connection.send({"t": "peers", "peers": [self._describe(c) for c in others]})
        return True

    def _prefer(self, new: Connection, existing: Connection) -> bool:
        """Both ends must keep the same one of two simultaneous connections: the one dialled by
        the smaller peer id."""
        def dialer(c: Connection) -> str:
            return self.peer_id if c.outbound else (c.peer_id or "")

        if dialer(new) == dialer(existing):
            return False
        return dialer(new) == min(self.peer_id, new.peer_id or "")

    @staticmethod
    def _describe(connection: Connection) -> Message:
        remote = connection.remote
        return {"id": connection.peer_id, "host": remote.host, "port": remote.port}

    def _forget(self, connection: Connection) -> None:
        peer_id = connection.peer_id
        if peer_id is None:
            return
        with self._lock:
            if self._peers.get(peer_id) is not connection:
                return
            del self._peers[peer_id]
        if not self._stopping.is_set():
            self.log.info(TARGET, f"Connection closed with peer {peer_id}")
