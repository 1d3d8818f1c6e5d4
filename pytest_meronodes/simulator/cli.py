"""`merod-sim`: merod's command line (section 1 of the interface), plus `auth` for the standalone
auth service. Exit codes: 0 ok, 1 error (on stderr), 2 usage error."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from .. import __version__
from . import FAULT_ENV, SIMULATED_MEROD_VERSION, nodeconfig
from .identity import Identity
from .logs import Logger

if TYPE_CHECKING:
    from .auth import AdminAccount

# A node's start-up time is mostly imports: what only `run` or embedded auth needs (http.server,
# the swarm, pbkdf2 accounts) is imported where it is used.

TARGET = "merod"


class CliError(Exception):
    """An error the user must fix; printed on stderr, exit code 1."""


def version_text() -> str:
    return f"merod {SIMULATED_MEROD_VERSION} (merod-sim {__version__}: pytest-meronodes simulator)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="merod", description="Calimero node (merod-sim: a simulator)")
    parser.add_argument("--version", "-V", action="version", version=version_text())
    parser.add_argument("--home", default=os.environ.get("CALIMERO_HOME"), help="home directory")
    parser.add_argument("--node", "-n", "--node-name", dest="node", help="node name")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    init = commands.add_parser("init", help="initialise a node")
    init.add_argument("--server-host", default="127.0.0.1,::1")
    init.add_argument("--server-port", type=int, default=2528)
    init.add_argument("--swarm-host", default="0.0.0.0,::")
    init.add_argument("--swarm-port", type=int, default=2428)
    init.add_argument("--boot-nodes", nargs="+", default=[], metavar="ADDR")
    init.add_argument("--boot-network", choices=["calimero-dev", "ipfs"], default="calimero-dev")
    init.add_argument("--auth-mode", choices=["proxy", "embedded"], default="proxy")
    init.add_argument("--auth-storage", choices=["persistent", "memory"], default="persistent")
    init.add_argument("--admin-user")
    passwords = init.add_mutually_exclusive_group()
    passwords.add_argument("--admin-password-file", type=Path)
    passwords.add_argument("--admin-password-stdin", action="store_true")
    init.add_argument("--no-admin", action="store_true")
    # hidden flags in merod; a mutually exclusive group of hidden flags breaks argparse's usage
    init.add_argument("--mdns", dest="mdns", action="store_true", default=True, help=argparse.SUPPRESS)
    init.add_argument("--no-mdns", dest="mdns", action="store_false", help=argparse.SUPPRESS)
    init.add_argument("--force", action="store_true")

    run = commands.add_parser("run", aliases=["up"], help="run a node")
    run.add_argument("--auth-mode", choices=["proxy", "embedded"])

    config = commands.add_parser("config", help="edit config.toml with dotted keys")
    config.add_argument("assignments", nargs="*", metavar="KEY=VALUE")

    service = commands.add_parser("auth", help="run the standalone auth service (mero-auth)")
    service.add_argument("--listen", default="127.0.0.1:3001", metavar="HOST:PORT")
    service.add_argument("--admin-user")
    service.add_argument("--admin-password-file", type=Path)
    service.add_argument("--access-token-expiry", type=int, default=3600)
    service.add_argument("--refresh-token-expiry", type=int, default=2592000)
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = _parser()
    args = parser.parse_args(argv)
    log = Logger()
    if args.command != "auth" and not args.node:
        parser.error("the following arguments are required: --node")
    try:
        if args.command == "init":
            code = _init(args, log)
        elif args.command in ("run", "up"):
            code = _run(args, log)
        elif args.command == "config":
            code = _config(args)
        else:
            from .auth_service import serve

            code = serve(args, log)
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        code = 1
    sys.exit(code)


def _node_dir(args: argparse.Namespace) -> Path:
    home = Path(args.home).expanduser() if args.home else Path.home() / ".calimero"
    return home / str(args.node)


def _read_password(args: argparse.Namespace) -> str | None:
    if args.admin_password_file is not None:
        try:
            return str(args.admin_password_file.read_text()).rstrip("\r\n")
        except OSError as error:
            raise CliError(f"cannot read admin password file: {error.strerror}") from None
    if args.admin_password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return None


def _init(args: argparse.Namespace, log: Logger) -> int:
    node_dir = _node_dir(args)
    config_path = node_dir / nodeconfig.CONFIG_FILE
    if config_path.exists() and not args.force:
        try:
            nodeconfig.load(config_path)
        except nodeconfig.ConfigError as error:
            raise CliError(f"node is initialized but its config is corrupt ({error}); use --force") from None
        log.warn(TARGET, f"Node {args.node} is already initialized in {node_dir}")
        return 0

    admin = _admin_for_init(args)
    if args.force and node_dir.exists():
        shutil.rmtree(node_dir)
    node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(node_dir, 0o700)
    (node_dir / "data").mkdir(mode=0o700, exist_ok=True)
    if admin is not None:
        auth_dir = node_dir / "auth"
        auth_dir.mkdir(mode=0o700, exist_ok=True)
        admin.save(auth_dir)

    if args.boot_nodes:
        boot_nodes = list(args.boot_nodes)
    elif args.boot_network == "ipfs":
        boot_nodes = list(nodeconfig.IPFS_BOOT_NODES)
    else:
        boot_nodes = list(nodeconfig.CALIMERO_DEV_BOOT_NODES)
    for addr in boot_nodes:
        try:
            nodeconfig.Multiaddr.parse(addr)
        except ValueError as error:
            if not addr.startswith("/dnsaddr/"):
                raise CliError(str(error)) from None
    identity = Identity.generate()
    config = nodeconfig.generate(
        identity,
        server_host=args.server_host,
        server_port=args.server_port,
        swarm_host=args.swarm_host,
        swarm_port=args.swarm_port,
        boot_nodes=boot_nodes,
        auth_mode=args.auth_mode,
        auth_storage=args.auth_storage,
        mdns=args.mdns,
    )
    nodeconfig.save(config_path, config)
    log.info(TARGET, f"Initialized a node in {node_dir}")
    log.info(TARGET, f"Peer ID: {identity.peer_id}")
    return 0


def _admin_for_init(args: argparse.Namespace) -> AdminAccount | None:
    if args.auth_mode != "embedded" or args.no_admin:
        return None
    from .auth import AdminAccount, AuthSetupError, admin_from_env

    password = _read_password(args)
    user = args.admin_user
    if user is None and password is None:
        from_env = admin_from_env()
        if from_env is not None:
            user, password = from_env
    if user is None or password is None:
        if args.auth_storage == "memory":
            return None
        raise CliError(
            "embedded auth with persistent storage needs an admin: pass --admin-user with "
            "--admin-password-file or --admin-password-stdin, set MERO_AUTH_ADMIN_USER and "
            "MERO_AUTH_ADMIN_PASSWORD, or pass --no-admin"
        )
    try:
        return AdminAccount.create(user, password)
    except AuthSetupError as error:
        raise CliError(str(error)) from None


def _load_config(node_dir: Path) -> dict[str, Any]:
    try:
        return nodeconfig.load(node_dir / nodeconfig.CONFIG_FILE)
    except FileNotFoundError:
        raise CliError(f"Node is not initialized in {node_dir}") from None
    except nodeconfig.ConfigError as error:
        raise CliError(str(error)) from None


def _config(args: argparse.Namespace) -> int:
    node_dir = _node_dir(args)
    config = _load_config(node_dir)
    if not args.assignments:
        sys.stdout.write((node_dir / nodeconfig.CONFIG_FILE).read_text())
        return 0
    try:
        for assignment in args.assignments:
            key, separator, value = assignment.partition("=")
            if not separator or not key.strip():
                raise nodeconfig.ConfigError(f"expected KEY=VALUE, got {assignment!r}")
            nodeconfig.set_dotted(config, key.strip(), nodeconfig.parse_value(value.strip()))
        nodeconfig.validate(config)
    except nodeconfig.ConfigError as error:
        raise CliError(str(error)) from None
    nodeconfig.save(node_dir / nodeconfig.CONFIG_FILE, config)
    return 0


def _run(args: argparse.Namespace, log: Logger) -> int:
    node_dir = _node_dir(args)
    config = _load_config(node_dir)
    auth_mode = args.auth_mode or nodeconfig.get_dotted(config, "server.auth_mode") or "proxy"
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info(TARGET, f"Received {signal.Signals(signum).name}, shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(TARGET, f"Starting node {args.node} ({version_text()})")
    faults = dict(item.partition("=")[::2] for item in os.environ.get(FAULT_ENV, "").split(",") if item)
    if "exit-at-start" in faults:
        # for the plugin's own tests: a node that dies while starting, as a crashing merod would
        log.error(TARGET, f"simulated fault ({FAULT_ENV}): exiting during start")
        return int(faults["exit-at-start"] or 1)
    from .node import Node, StartupError

    try:
        node = Node(name=args.node, node_dir=node_dir, config=config, auth_mode=auth_mode, log=log,
                    faults=frozenset(faults))
        node.start()
    except (StartupError, ValueError, OSError) as error:
        raise CliError(f"failed to start node: {error}") from None
    # logged first: whoever sees ready 200 finds the line in the log
    log.info(TARGET, "Node started successfully")
    node.mark_ready()
    # a node that crashes once it is up
    if "exit-after" in faults and not stop.wait(int(faults["exit-after"] or 0) / 1000):
        node.crash()
    while not stop.wait(0.5):
        pass
    node.stop()
    log.info(TARGET, "Node shutdown complete")
    return 0
