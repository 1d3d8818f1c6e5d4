"""The one set of helpers for running the simulator (or any merod) in tests and benchmarks: the
simulator's command and the pytest options that select it, running merod subcommands, starting
node processes that are always stopped, waiting for health, polling with deadlines, and reading
tokens.

Apart from the SIM_* constants, everything here relies only on the interface document (sections
1-4), never on simulator internals, so the conformance suite can drive a real merod with them."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import requests

from pytest_meronodes.merod_program import simulator_command
from pytest_meronodes.ownership import new_owner
from pytest_meronodes.ports import PortRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")

# The bundled simulator, run exactly as the plugin runs it for `--merod-binary=sim`.
SIM_COMMAND = simulator_command()
SIM_VERSION = "0.11.0-rc.25"  # the merod release it plays, unless MEROD_SIM_VERSION says otherwise
# pytest options: the plugin runs simulator nodes; and for a pytest started by a test, no cache
SIM = "--merod-binary=sim"
SIM_ARGS = (SIM, "-p", "no:cacheprovider")
# an application file to install: the simulator runs its built-in kv-store whatever the file
FAKE_APP = b"\0asm\1\0\0\0"
HEALTH_PATH = "/admin-api/health"
PEER_ID_RE = re.compile(r"12D3KooW[1-9A-HJ-NP-Za-km-z]{44}")
ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct-horse-battery"
# Startup and shutdown deadlines are generous: under `pytest -n 2` two workers share the CPUs.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
# Environment that would change what init/run do; tests pass it explicitly when they want it.
_SCRUBBED_ENV = ("MERO_AUTH_ADMIN_USER", "MERO_AUTH_ADMIN_PASSWORD", "CALIMERO_HOME", "RUST_LOG")


# Ports for nodes the tests start by hand: below the kernel's ephemeral range (32768-60999 on Linux),
# so no outgoing connection can take one between its choice and the node's bind, and reserved in the
# plugin's machine-wide registry, so no other worker or session picks it meanwhile (the plugin tests'
# own ranges are 30000-30999).
HELPER_PORT_RANGE = (31000, 32699)
_helper_ports = PortRegistry(HELPER_PORT_RANGE)
_helper_owner = new_owner()  # this process, as the owner of the helper ports


def free_port() -> int:
    """A TCP port free on 127.0.0.1, reserved for this process until `release_helper_ports`."""
    return _helper_ports.allocate(1, _helper_owner)[0]


def release_helper_ports() -> None:
    _helper_ports.release(_helper_ports.reserved_by(_helper_owner), _helper_owner)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(extra or {})
    return env


def poll_until(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = POLL_INTERVAL
) -> T:
    """Call `check` until it returns something other than None/False, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def is_healthy(url: str, health_path: str = HEALTH_PATH) -> bool:
    """One health request: True on 200, False on any other answer or none."""
    try:
        return requests.get(url + health_path, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def write_fake_app(path: Path) -> Path:
    path.write_bytes(FAKE_APP)
    return path


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWT, decoded without verifying the signature."""
    segments = token.split(".")
    assert len(segments) == 3, f"not a JWS compact token: {token!r}"

    def decode(segment: str) -> dict[str, Any]:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        assert isinstance(value, dict)
        return value

    return decode(segments[0]), decode(segments[1])


def token_request(
    node_url: str,
    *,
    username: str = ADMIN_USER,
    password: str = ADMIN_PASSWORD,
    permissions: Sequence[str] = ("admin",),
) -> dict[str, Any]:
    """A `POST /auth/token` body for the user_password provider (section 4)."""
    return {
        "auth_method": "user_password",
        "public_key": username,
        "client_name": node_url,
        "timestamp": int(time.time()),
        "permissions": list(permissions),
        "provider_data": {"username": username, "password": password},
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class NodeProcess:
    """A running server process (`merod run`, or the simulator's auth service); its stdout and
    stderr go to `log_path`."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]
    health_path: str = HEALTH_PATH

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=5, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def wait_healthy(self, timeout: float = START_TIMEOUT, interval: float = POLL_INTERVAL) -> None:
        """Poll health until 200; fail at once, with the log, if the process dies first."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise AssertionError(f"node {self.name} exited with {code} before it was healthy:\n{self.log_tail()}")
            if is_healthy(self.url, self.health_path):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"node {self.name} not healthy after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(interval)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait; None if it did not exit in time (it is then still running)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """Always leaves the process dead: SIGTERM, wait, then SIGKILL."""
        try:
            if self.terminate() is None:
                self.kill()
        finally:
            self._log.close()


@dataclass
class Node:
    """An initialised node directory and the ports it was initialised with."""

    name: str
    home: Path
    server_port: int
    swarm_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def config_path(self) -> Path:
        return self.home / self.name / "config.toml"

    def config(self) -> dict[str, Any]:
        return read_toml(self.config_path)

    @property
    def peer_id(self) -> str:
        peer_id = self.config()["identity"]["peer_id"]
        assert isinstance(peer_id, str)
        return peer_id

    @property
    def swarm_addr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.swarm_port}/p2p/{self.peer_id}"


@dataclass
class Merod:
    """A merod program (argv prefix) working in one home directory; starts node processes and
    stops every one of them in `close()`."""

    command: tuple[str, ...]
    home: Path
    logs: Path
    processes: list[NodeProcess] = field(default_factory=list)

    def cli(
        self,
        name: str | None,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 30.0,
        node_flag: str = "--node",
    ) -> subprocess.CompletedProcess[str]:
        """Run `merod --home HOME --node NAME ARGS...` to completion."""
        argv = [*self.command, "--home", str(self.home)]
        if name is not None:
            argv += [node_flag, name]
        return subprocess.run(
            [*argv, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=clean_env(env),
            timeout=timeout,
            check=False,
        )

    def cli_ok(self, name: str | None, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = self.cli(name, *args, **kwargs)
        assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result

    def init(
        self,
        name: str,
        *extra: str,
        boot_nodes: Sequence[str] | None = (),
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> Node:
        """Init on free loopback ports, then set the bootstrap list (init adds public boot nodes
        by default and `--boot-nodes` needs at least one address, so `config` sets it); None
        keeps what init wrote."""
        node = Node(name, self.home, free_port(), free_port())
        self.cli_ok(
            name,
            "init",
            "--server-host", "127.0.0.1",
            "--server-port", str(node.server_port),
            "--swarm-host", "127.0.0.1",
            "--swarm-port", str(node.swarm_port),
            *extra,
            env=env,
            stdin=stdin,
        )
        if boot_nodes is not None:
            self.set_boot_nodes(node, boot_nodes)
        return node

    def set_boot_nodes(self, node: Node, addrs: Sequence[str]) -> None:
        self.cli_ok(node.name, "config", f"bootstrap.nodes={json.dumps(list(addrs))}")

    def spawn(self, node: Node, *args: str, env: dict[str, str] | None = None) -> NodeProcess:
        """Launch `run` without waiting for it to become healthy."""
        argv = [*self.command, "--home", str(self.home), "--node", node.name, "run", *args]
        return self.launch(node.name, argv, node.url, env=env)

    def launch(
        self,
        label: str,
        argv: Sequence[str],
        url: str,
        *,
        health_path: str = HEALTH_PATH,
        env: dict[str, str] | None = None,
    ) -> NodeProcess:
        """Start a server process that `close()` will stop, logging to a file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{label}-{len(self.processes)}.log"
        log = log_path.open("wb")
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(env),
            )
        except BaseException:
            log.close()
            raise
        running = NodeProcess(label, url, process, log_path, log, health_path)
        self.processes.append(running)
        return running

    def start(self, node: Node, *args: str, env: dict[str, str] | None = None) -> NodeProcess:
        running = self.spawn(node, *args, env=env)
        running.wait_healthy()
        return running

    def start_all(self, nodes: Sequence[Node]) -> list[NodeProcess]:
        """Launch every node, then wait for each to be healthy: started together, nodes that boot
        from each other find each other listening, or retry."""
        running = [self.spawn(node) for node in nodes]
        for process in running:
            process.wait_healthy()
        return running

    def boot_from_each_other(self, nodes: Sequence[Node]) -> None:
        """Each node's bootstrap list: every other node, by /ip4 address."""
        for node in nodes:
            self.set_boot_nodes(node, [other.swarm_addr for other in nodes if other is not node])

    def start_mesh(self, names: Sequence[str], *assignments: str) -> list[NodeProcess]:
        """Nodes that boot from each other, with `config` `assignments` (`key=value`), started and
        connected: each sees every other as a peer."""
        nodes = [self.init(name, boot_nodes=None) for name in names]
        self.boot_from_each_other(nodes)
        if assignments:
            for node in nodes:
                self.cli_ok(node.name, "config", *assignments)
        running = self.start_all(nodes)
        for process in running:
            wait_for_peers(process, lambda count: count >= len(nodes) - 1, f"{process.name} to see its peers")
        return running

    def close(self) -> None:
        errors: list[BaseException] = []
        for running in self.processes:
            try:
                running.stop()
            except BaseException as error:  # keep stopping the others
                errors.append(error)
        self.processes.clear()
        if errors:
            raise errors[0]


@contextmanager
def merod_in(command: Sequence[str], base: Path) -> Iterator[Merod]:
    """A merod program working in `base` (its home and logs below it); every process it started
    is stopped on the way out."""
    runner = Merod(tuple(command), base / "home", base / "logs")
    try:
        yield runner
    finally:
        runner.close()


def peer_count(node: NodeProcess) -> int:
    response = node.get("/admin-api/peers")
    assert response.status_code == 200, response.text
    count = response.json()["count"]
    assert isinstance(count, int)
    return count


def wait_for_peers(node: NodeProcess, predicate: Callable[[int], bool], what: str, timeout: float = 20.0) -> int:
    def check() -> int | None:
        count = peer_count(node)
        return count if predicate(count) else None

    return poll_until(check, timeout=timeout, what=what)  # a count of 0 is a result, not None


def jsonrpc(node: NodeProcess, method: str, params: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    """One JSON-RPC 2.0 call (section 3): always HTTP 200, the envelope returned."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    response = node.post("/jsonrpc", json=body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert isinstance(envelope, dict)
    return envelope


def rpc(node: NodeProcess, context_id: str, method: str, args: dict[str, Any], **kwargs: Any) -> requests.Response:
    """A JSON-RPC `execute` call (section 3)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "execute",
        "params": {"contextId": context_id, "method": method, "argsJson": args},
    }
    return node.post("/jsonrpc", json=body, **kwargs)


def rpc_output(node: NodeProcess, context_id: str, method: str, args: dict[str, Any]) -> Any:
    response = rpc(node, context_id, method, args)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "result" in body, body
    return body["result"]["output"]


def _data(response: requests.Response, what: str) -> Any:
    assert response.status_code == 200, f"{what}: HTTP {response.status_code} {response.text}"
    return response.json()["data"]


def install_application(node: NodeProcess, app_file: Path) -> str:
    """Install an application from a file the node can read; its id."""
    body = {"path": str(app_file), "metadata": []}
    application_id = _data(node.post("/admin-api/install-dev-application", json=body), "install")["applicationId"]
    assert isinstance(application_id, str)
    assert application_id
    return application_id


def create_namespace(node: NodeProcess, application_id: str) -> str:
    namespace_id = _data(node.post("/admin-api/namespaces", json={"applicationId": application_id}),
                         "create namespace")["namespaceId"]
    assert isinstance(namespace_id, str)
    assert len(namespace_id) == 64
    return namespace_id


def create_context(node: NodeProcess, application_id: str, namespace_id: str) -> str:
    body = {"applicationId": application_id, "groupId": namespace_id, "initializationParams": []}
    data = _data(node.post("/admin-api/contexts", json=body), "create context")
    assert isinstance(data["memberPublicKey"], str)
    assert data["memberPublicKey"]
    context_id = data["contextId"]
    assert isinstance(context_id, str)
    assert context_id
    return context_id


def install_and_create_context(node: NodeProcess, app_file: Path) -> str:
    """Install an application, create a namespace for it and a context in that namespace (the
    app flow of merod >= 0.11.0-rc.1, section 3)."""
    application_id = install_application(node, app_file)
    return create_context(node, application_id, create_namespace(node, application_id))


def join_namespace(inviter: NodeProcess, joiner: NodeProcess, namespace_id: str, timeout: float = 60.0) -> None:
    """An invitation from a member, and the joiner's join with it (it must reach a member)."""
    invitation = _data(inviter.post(f"/admin-api/namespaces/{namespace_id}/invite", json={}), "invite")["invitation"]
    response = requests.post(f"{joiner.url}/admin-api/namespaces/{namespace_id}/join",
                             json={"invitation": invitation}, timeout=timeout)
    joined = _data(response, f"{joiner.name} joining the namespace")
    assert joined["namespaceId"] == namespace_id


def join_context(node: NodeProcess, context_id: str, timeout: float = 40.0) -> str:
    """Join a context of a namespace the node has joined (merod answers once it knows the
    context's namespace); the member key."""
    response = requests.post(f"{node.url}/admin-api/contexts/{context_id}/join", json={}, timeout=timeout)
    data = _data(response, f"{node.name} joining context {context_id}")
    assert data["contextId"] == context_id
    member: str = data["memberPublicKey"]
    return member


def share_context(creator: NodeProcess, joiners: Sequence[NodeProcess], app_file: Path) -> tuple[str, str]:
    """The whole app flow: install everywhere, a namespace and a context on `creator`, every
    joiner in the namespace and the context. Returns (context id, namespace id)."""
    application_id = install_application(creator, app_file)
    namespace_id = create_namespace(creator, application_id)
    context_id = create_context(creator, application_id, namespace_id)
    for joiner in joiners:
        assert install_application(joiner, app_file) == application_id, "the same file, the same id"
        join_namespace(creator, joiner, namespace_id)
        join_context(joiner, context_id)
    return context_id, namespace_id


def sync_status(node: NodeProcess, context_id: str) -> dict[str, Any]:
    envelope = jsonrpc(node, "sync_status", {"contextId": context_id})
    assert "result" in envelope, envelope
    result: dict[str, Any] = envelope["result"]
    return result


def wait_initialized(node: NodeProcess, context_id: str, timeout: float = 20.0) -> None:
    """Until the node has synced the context (its first sync with a peer)."""
    poll_until(lambda: sync_status(node, context_id)["isInitialized"], timeout=timeout,
               what=f"{node.name} to initialise context {context_id}")


def context_state(node: NodeProcess, context_id: str) -> tuple[str, tuple[tuple[int, ...], ...]]:
    """The node's state hash and DAG heads of the context."""
    data = _data(node.get(f"/admin-api/contexts/{context_id}"), "get context")
    return str(data["contextStateHash"]), tuple(tuple(head) for head in data.get("dagHeads", []))
