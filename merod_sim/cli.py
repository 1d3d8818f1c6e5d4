"""`merod-sim`: merod's command line (crates/merod/src/cli), plus `auth` for the standalone auth
service. Exit codes as merod's: 0 ok, 1 an error (`Error:` and an eyre chain on stderr), 2 a
usage error (clap's words on stderr)."""

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

from . import SIMULATED_MEROD_VERSION, VERSION_ENV, __version__, nodeconfig
from .errors import CliError
from .identity import Identity
from .logs import Logger

if TYPE_CHECKING:
    from .auth import AdminAccount

# A node's start-up time is mostly imports: what only `run` or embedded auth needs (http.server,
# the swarm, pbkdf2 accounts) is imported where it is used.

INIT_TARGET = "merod::cli::init"
CONFIG_TARGET = "merod::cli::config"
RUN_TARGET = "merod::cli::run"
NODE_RUN_TARGET = "calimero_node::run"
ROOT_USAGE = "Usage: merod [OPTIONS] --node <NAME> <COMMAND>"
EMBEDDED_NEEDS_ADMIN = (
    "--auth-mode embedded requires admin credentials so the admin account exists before the node ever "
    "listens. Provide --admin-user with --admin-password-file or --admin-password-stdin (or set "
    "MERO_AUTH_ADMIN_USER and MERO_AUTH_ADMIN_PASSWORD), or pass --no-admin to explicitly defer provisioning."
)


def simulated_version() -> str:
    """The merod release the simulator plays (MEROD_SIM_VERSION lets tests pick another)."""
    return os.environ.get(VERSION_ENV) or SIMULATED_MEROD_VERSION


def _release(text: str) -> tuple[int, int, int, float]:
    import re

    match = re.search(r"(\d+)\.(\d+)\.(\d+)(?:-rc\.(\d+))?", text)
    if match is None:
        return (999, 0, 0, 0.0)
    major, minor, patch, rc = match.groups()
    return int(major), int(minor), int(patch), float(rc) if rc else float("inf")


# flags that came or went with a release: the simulator playing an older merod refuses them too
NODE_FLAG_SINCE = (0, 10, 0, 38.0)  # `--node` replaced `--node-name`
EXIT_ON_EOF_SINCE = (0, 11, 0, 23.0)


def _check_flags_of_the_release(parser: ClapParser, argv: Sequence[str]) -> None:
    release = _release(simulated_version())
    flags = {arg.split("=", 1)[0] for arg in argv}
    if release >= NODE_FLAG_SINCE and "--node-name" in flags:
        parser.error("unrecognized arguments: --node-name")
    if release < NODE_FLAG_SINCE and flags & {"--node", "-n"}:
        parser.error("unrecognized arguments: --node")
    if release < EXIT_ON_EOF_SINCE and "--exit-on-eof" in flags:
        parser.error("unrecognized arguments: --exit-on-eof")


def version_text() -> str:
    return f"merod {simulated_version()} (merod-sim {__version__}: pytest-meronodes simulator)"


def debug_path(path: Path) -> str:
    """`{:?}` of a path, as merod's messages print it."""
    from .serdejson import rust_debug_str

    return rust_debug_str(str(path))


# -- clap-like parsing ---------------------------------------------------------------------------
def _invalid(value: str, arg: str, why: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"\0invalid value '{value}' for '{arg}': {why}")


def _port(arg: str) -> Any:
    def parse(text: str) -> int:
        if not text.isdigit():
            raise _invalid(text, arg, "invalid digit found in string")
        if int(text) > 65535:
            raise _invalid(text, arg, "number too large to fit in target type")
        return int(text)

    return parse


def _count(arg: str) -> Any:
    def parse(text: str) -> int:
        if not text.isdigit():
            raise _invalid(text, arg, "invalid digit found in string")
        return int(text)

    return parse


def _hosts(arg: str) -> Any:
    def parse(text: str) -> str:
        import ipaddress

        for host in text.split(","):
            try:
                ipaddress.ip_address(host.strip())
            except ValueError:
                raise _invalid(text, arg, "invalid IP address syntax") from None
        return text

    return parse


def _choice(arg: str, values: Sequence[str]) -> Any:
    def parse(text: str) -> str:
        if text not in values:
            raise argparse.ArgumentTypeError(
                f"\0invalid value '{text}' for '{arg}'\n  [possible values: {', '.join(values)}]"
            )
        return text

    return parse


def _multiaddr(arg: str) -> Any:
    def parse(text: str) -> str:
        problem = nodeconfig.multiaddr_problem(text)
        if problem is not None:
            raise _invalid(text, arg, problem)
        return text

    return parse


def _key_value(text: str) -> tuple[str, Any]:
    """crates/merod/src/cli/config.rs KeyValuePair: `key=value`, the value TOML."""
    key, separator, value = text.partition("=")
    if not separator:
        raise _invalid(text, "[ARGS]...", "Missing value")
    try:
        return key, nodeconfig.parse_value(value)
    except nodeconfig.TomlValueError as error:
        raise _invalid(text, "[ARGS]...", str(error)) from None


class ClapParser(argparse.ArgumentParser):
    """argparse with clap's error output: `error: ...`, a usage line where clap shows one,
    `For more information, try '--help'.`, exit code 2."""

    clap_usage = ROOT_USAGE

    def error(self, message: str) -> NoReturn:
        text, show_usage = self._clap_message(message)
        out = f"error: {text}\n"
        if show_usage:
            out += f"\n{self.clap_usage}\n"
        out += "\nFor more information, try '--help'.\n"
        sys.stderr.write(out)
        sys.exit(2)

    @staticmethod
    def _clap_message(message: str) -> tuple[str, bool]:
        if "\0" in message:  # our own types: clap's text, no usage
            return message.split("\0", 1)[1], False
        if message.startswith("unrecognized arguments: "):
            return f"unexpected argument '{message.split(': ', 1)[1].split()[0]}' found", True
        if "invalid choice: " in message:
            chosen = message.split("invalid choice: ", 1)[1].split(" (", 1)[0]
            return f"unrecognized subcommand {chosen}", True
        if message.startswith("the following arguments are required: "):
            missing = message.split(": ", 1)[1]
            if missing == "COMMAND":
                return "'merod' requires a subcommand but one was not provided", True
            return f"the following required arguments were not provided:\n  {missing}", True
        if "not allowed with argument" in message:
            first, second = message.removeprefix("argument ").split(": not allowed with argument ")
            return f"the argument '{second}' cannot be used with '{first}'", True
        if message.endswith("expected one argument"):
            arg = message.removeprefix("argument ").split(":")[0]
            return f"a value is required for '{arg}' but none was supplied", True
        return message, True


def _parser() -> ClapParser:
    parser = ClapParser(prog="merod", description="Calimero node (merod-sim: a simulator)", add_help=True)
    parser.add_argument("--version", "-V", action="version", version=version_text())
    parser.add_argument("--home", default=os.environ.get("CALIMERO_HOME"), help="Directory for config and data")
    parser.add_argument("--node", "-n", "--node-name", dest="node", help="Name of node")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ClapParser)
    commands.required = True

    init = commands.add_parser("init", help="Initialize node configuration")
    init.clap_usage = "Usage: merod --node <NAME> init [OPTIONS]"
    init.add_argument("--boot-nodes", nargs="+", default=[], metavar="ADDR", type=_multiaddr("--boot-nodes <ADDR>"))
    init.add_argument("--boot-network", default="calimero-dev",
                      type=_choice("--boot-network <NETWORK>", ["calimero-dev", "ipfs"]))
    init.add_argument("--swarm-host", default="0.0.0.0,::", type=_hosts("--swarm-host <HOST>"))
    init.add_argument("--swarm-port", type=_port("--swarm-port <PORT>"), default=2428)
    init.add_argument("--server-host", default="127.0.0.1,::1", type=_hosts("--server-host <HOST>"))
    init.add_argument("--server-port", type=_port("--server-port <PORT>"), default=2528)
    init.add_argument("--auth-mode", type=_choice("--auth-mode <AUTH_MODE>", ["proxy", "embedded"]))
    init.add_argument("--auth-storage", type=_choice("--auth-storage <AUTH_STORAGE>", ["persistent", "memory"]))
    init.add_argument("--auth-storage-path", metavar="PATH")
    init.add_argument("--admin-user", metavar="NAME")
    passwords = init.add_mutually_exclusive_group()
    passwords.add_argument("--admin-password-file", type=Path, metavar="PATH")
    passwords.add_argument("--admin-password-stdin", action="store_true")
    init.add_argument("--no-admin", action="store_true")
    init.add_argument("--mdns", action="store_true")
    init.add_argument("--no-mdns", action="store_true", help=argparse.SUPPRESS)
    init.add_argument("--advertise-address", action="store_true")
    init.add_argument("--external-address", action="append", default=[], metavar="MULTIADDR")
    init.add_argument("--rendezvous-registrations-limit", type=_count("--rendezvous-registrations-limit"), default=3)
    init.add_argument("--relay-registrations-limit", type=_count("--relay-registrations-limit"), default=3)
    init.add_argument("--autonat-probe-interval", type=_count("--autonat-probe-interval"), default=10)
    init.add_argument("--autonat-max-candidates", type=_count("--autonat-max-candidates"), default=5)
    init.add_argument("--force", action="store_true")
    init.add_argument("--mode", default="standard", type=_choice("--mode <MODE>", ["standard", "read-only"]))

    run = commands.add_parser("run", aliases=["up"], help="Run a node")
    run.clap_usage = "Usage: merod --node <NAME> run [OPTIONS]"
    run.add_argument("--auth-mode", type=_choice("--auth-mode <AUTH_MODE>", ["proxy", "embedded"]))
    run.add_argument("--exit-on-eof", type=int, metavar="FD")
    run.add_argument("--mock-tee", action="store_true")

    config = commands.add_parser("config", help="Configure the node")
    config.clap_usage = "Usage: merod --node <NAME> config [ARGS]..."
    config.add_argument("assignments", nargs="*", metavar="ARGS", type=_key_value)

    service = commands.add_parser("auth", help="merod-sim only: run the standalone auth service (mero-auth)")
    service.add_argument("--listen", default="127.0.0.1:3001", metavar="HOST:PORT")
    service.add_argument("--admin-user")
    service.add_argument("--admin-password-file", type=Path)
    service.add_argument("--access-token-expiry", type=int, default=3600)
    service.add_argument("--refresh-token-expiry", type=int, default=2592000)
    return parser


def report(error: CliError) -> None:
    """colour-eyre's report: each message of the chain numbered, continuation lines indented."""
    lines = ["Error:"]
    for number, message in enumerate(error.chain):
        first, *rest = message.rstrip("\n").split("\n")
        lines.append(f"   {number}: {first}")
        lines.extend(f"      {line}" for line in rest)
    lines.append("")
    if os.environ.get("RUST_BACKTRACE") in (None, "", "0"):
        lines.append("Backtrace omitted. Run with RUST_BACKTRACE=1 environment variable to display it.")
    else:
        lines.append("Run with COLORBT_SHOW_HIDDEN=1 environment variable to disable frame filtering.")
    lines.append("Run with RUST_BACKTRACE=full to include source snippets.")
    sys.stderr.write("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_flags_of_the_release(parser, list(sys.argv[1:] if argv is None else argv))
    log = Logger()
    if args.command != "auth" and not args.node:
        parser.error("the following arguments are required: --node <NAME>")
    try:
        if args.command == "init":
            code = _init(args, log)
        elif args.command in ("run", "up"):
            code = _run(args, log)
        elif args.command == "config":
            code = _config(args, log)
        else:
            from .auth_service import serve

            code = serve(args, log)
    except CliError as error:
        report(error)
        code = 1
    if args.command in ("run", "up"):
        # a node has saved its state and closed its sockets: skip the interpreter's teardown of
        # a hundred threads and their objects (a native merod exits at once; a 100-node cluster's
        # teardown would otherwise spend seconds of CPU on it)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _node_dir(args: argparse.Namespace) -> Path:
    home = Path(args.home).expanduser() if args.home else Path.home() / ".calimero"
    return home / str(args.node)


# -- init ----------------------------------------------------------------------------------------
def _init(args: argparse.Namespace, log: Logger) -> int:
    node_dir = _node_dir(args)
    config_path = node_dir / nodeconfig.CONFIG_FILE
    if config_path.exists():
        try:
            nodeconfig.load(config_path)
        except nodeconfig.ConfigError as error:
            if not args.force:
                raise CliError(f"Failed to load existing configuration: {error.message}") from None
            log.warn(INIT_TARGET, f"Failed to load existing configuration, overwriting: {error.message}")
        else:
            if not args.force:
                log.warn(INIT_TARGET, f"Node is already initialized in {debug_path(node_dir)}")
                return 0
    auth_mode = args.auth_mode or "proxy"
    auth_storage = args.auth_storage or "persistent"
    admin = _admin_for_init(args, auth_mode, auth_storage, log)
    if node_dir.exists() and config_path.exists():
        if node_dir.is_symlink() or not node_dir.is_dir():
            raise CliError(f"refusing to remove {debug_path(node_dir)}: expected a directory, found "
                           + ("a symlink" if node_dir.is_symlink() else "a non-directory"))
        shutil.rmtree(node_dir)
    node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(node_dir, 0o700)
    auth_storage_path = args.auth_storage_path or "auth"
    if admin is not None:
        auth_dir = node_dir / auth_storage_path
        auth_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        admin.save(auth_dir)
        log.info("mero_auth::provisioning", f"Provisioned the admin root key user={admin.username}")
        log.info(INIT_TARGET, f"Created the admin account (user: {admin.username})")
    identity = Identity.generate()
    log.info(INIT_TARGET, f'Generated identity: PeerId("{identity.peer_id}")')
    boot_nodes = list(args.boot_nodes)
    boot_nodes += nodeconfig.IPFS_BOOT_NODES if args.boot_network == "ipfs" else nodeconfig.CALIMERO_DEV_BOOT_NODES
    config = nodeconfig.generate(
        identity,
        mode="readonly" if args.mode == "read-only" else "standard",
        server_host=args.server_host,
        server_port=args.server_port,
        swarm_host=args.swarm_host,
        swarm_port=args.swarm_port,
        boot_nodes=boot_nodes,
        auth_mode=auth_mode,
        auth_storage=auth_storage,
        auth_storage_path=auth_storage_path,
        mdns=args.mdns and not args.no_mdns,
        advertise_address=args.advertise_address,
        external_address=list(args.external_address),
        rendezvous_registrations_limit=args.rendezvous_registrations_limit,
        relay_registrations_limit=args.relay_registrations_limit,
        autonat_probe_interval=args.autonat_probe_interval,
        autonat_max_candidates=args.autonat_max_candidates,
    )
    nodeconfig.save(config_path, config)
    (node_dir / "data").mkdir(mode=0o700, exist_ok=True)
    log.info(INIT_TARGET, f"Initialized a node in {debug_path(node_dir)}")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    from .auth import strip_trailing_newline

    if args.admin_password_file is not None:
        try:
            return strip_trailing_newline(args.admin_password_file.read_text())
        except OSError as error:
            raise CliError(f"failed to read admin password file {debug_path(args.admin_password_file)}",
                           f"{error.strerror} (os error {error.errno})") from None
    if args.admin_password_stdin:
        return strip_trailing_newline(sys.stdin.read())
    return None


def _admin_for_init(args: argparse.Namespace, auth_mode: str, auth_storage: str, log: Logger) -> AdminAccount | None:
    """merod init's admin_to_mint: only embedded auth with persistent storage mints one."""
    provided = bool(args.admin_user or args.admin_password_file or args.admin_password_stdin)
    if auth_mode != "embedded":
        if provided:
            log.warn(INIT_TARGET, "Admin credentials are only used with --auth-mode embedded; ignoring")
        return None
    if auth_storage == "memory":
        if provided:
            log.warn(INIT_TARGET, "In-memory auth storage holds no persistent accounts — ignoring the admin "
                                  "credentials. Set MERO_AUTH_ADMIN_USER and MERO_AUTH_ADMIN_PASSWORD when running "
                                  "the node instead; the account is then minted at every startup.")
        return None
    if args.no_admin:
        if provided:
            log.warn(INIT_TARGET, "Ignoring the provided admin credentials because --no-admin was passed")
        log.warn(INIT_TARGET, "No admin account will be created: login stays disabled until one is provisioned "
                              "via `merod auth set-admin` or MERO_AUTH_ADMIN_USER/MERO_AUTH_ADMIN_PASSWORD at node "
                              "startup")
        return None
    from .auth import AdminAccount, AuthSetupError

    try:
        credentials = _resolve_admin(args)
        if credentials is None:
            raise CliError(EMBEDDED_NEEDS_ADMIN)
        return AdminAccount.create(*credentials)
    except AuthSetupError as error:
        raise CliError(str(error)) from None


def _resolve_admin(args: argparse.Namespace) -> tuple[str, str] | None:
    """merod's AdminCredArgs::resolve: the flags, then the environment."""
    from .auth import _password_from_env, admin_from_env

    user = args.admin_user or os.environ.get("MERO_AUTH_ADMIN_USER") or None
    password = _read_password(args)
    if user and password is not None:
        if not password:
            raise CliError("the admin password must not be empty")
        return user, password
    if user:
        from_env = _password_from_env()
        if from_env is None:
            raise CliError("an admin user was provided but no password; pass --admin-password-file or "
                           "--admin-password-stdin, or set MERO_AUTH_ADMIN_PASSWORD or MERO_AUTH_ADMIN_PASSWORD_FILE")
        return user, from_env
    if password is not None:
        raise CliError("an admin password was provided but no user; pass --admin-user or set MERO_AUTH_ADMIN_USER")
    return admin_from_env()


# -- config --------------------------------------------------------------------------------------
def _config(args: argparse.Namespace, log: Logger) -> int:
    node_dir = _node_dir(args)
    config_path = node_dir / nodeconfig.CONFIG_FILE
    if not config_path.exists():
        raise CliError(f"Node is not initialized in {debug_path(node_dir)}")
    try:
        config = nodeconfig.parse_document(config_path.read_text(encoding="utf-8"))
    except (OSError, nodeconfig.ConfigError) as error:
        raise CliError(f"TOML parse error: {error}") from None
    try:
        for key, value in args.assignments:
            nodeconfig.set_dotted(config, key, value)
        rendered = nodeconfig.render(config)
        nodeconfig.validate(config, rendered)
    except nodeconfig.ConfigError as error:
        raise CliError(*error.chain()) from None
    nodeconfig.write_atomic(config_path, rendered.encode("utf-8"))
    log.info(CONFIG_TARGET, "Node configuration has been updated")
    return 0


# -- run -----------------------------------------------------------------------------------------
def _load_config(node_dir: Path) -> dict[str, Any]:
    try:
        return nodeconfig.load(node_dir / nodeconfig.CONFIG_FILE)
    except FileNotFoundError:
        raise CliError(f"Node is not initialized in {debug_path(node_dir)}") from None
    except nodeconfig.ConfigError as error:
        raise CliError(*error.chain()) from None


def _watch_parent(fd: int, stop: threading.Event, causes: list[str], log: Logger) -> None:
    """merod's watchdog::parent_closed: EOF on the inherited fd means the parent exited; what
    it writes down the pipe is ignored."""
    while True:
        try:
            data = os.read(fd, 64)
        except InterruptedError:
            continue
        except OSError as error:
            log.warn(RUN_TARGET, f"cannot watch the process that started this node fd={fd} err={error.strerror}")
            return
        if not data:
            log.warn(RUN_TARGET, "the process that started this node exited; shutting down")
            causes.append("ParentExited")
            stop.set()
            return


def _run(args: argparse.Namespace, log: Logger) -> int:
    if args.mock_tee:
        raise CliError(
            "--mock-tee: this merod binary was built without mock-attestation support. Rebuild with `cargo build "
            "-p merod --features mock-attestation` (dev/test only); release binaries intentionally contain no mock "
            "attestation code."
        )
    node_dir = _node_dir(args)
    config = _load_config(node_dir)
    if args.auth_mode:
        config.setdefault("server", {})["auth_mode"] = args.auth_mode
        try:
            nodeconfig.validate(config, "")
        except nodeconfig.ConfigError as error:
            raise CliError(*error.chain()) from None
    auth_mode = nodeconfig.get_dotted(config, "server.auth_mode") or "proxy"
    stop = threading.Event()
    causes: list[str] = []

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        causes.append("Signal")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    from .faults import FaultError, Faults

    try:
        faults = Faults.from_env()
    except FaultError as error:
        raise CliError(str(error)) from None
    exit_code = faults.exit_code_at_start(log)
    if exit_code is not None:
        return exit_code
    log.info(RUN_TARGET, "TEE not configured; starting without KMS key-fetch flow")
    from .api import NodeApi
    from .node import Node, StartupError

    try:
        node = Node(name=args.node, node_dir=node_dir, config=config, auth_mode=auth_mode, log=log, faults=faults)
        node.start(NodeApi(node).handle)
    except (StartupError, ValueError, OSError) as error:
        raise CliError(f"failed to start node: {error}") from None
    # logged first: whoever sees ready 200 finds the line in the log
    log.info(NODE_RUN_TARGET, "Node started successfully")
    node.mark_ready()
    if args.exit_on_eof is not None:
        threading.Thread(target=_watch_parent, args=(args.exit_on_eof, stop, causes, log), daemon=True).start()
    node.log_listening()
    faults.crash_after_start(stop, log)
    waited = 0.0
    while not stop.wait(0.5):
        waited += 0.5
        if waited >= 5.0:  # merod's DATA_DIR_CHECK_INTERVAL
            waited = 0.0
            problem = node.data_dir_problem()
            if problem is not None:
                log.error(RUN_TARGET, f"{problem}; shutting down without writing anything further")
                causes.append("DataDirReplaced")
                break
    cause = causes[0] if causes else "Signal"
    log.info(NODE_RUN_TARGET, f"Shutting down; draining before exit cause={cause}")
    node.stop()
    log.info(NODE_RUN_TARGET, "Node shutdown complete")
    return 0
