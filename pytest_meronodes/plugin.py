"""pytest-meronodes: hooks, options and default fixtures. The work is done elsewhere."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from docker.errors import DockerException

from . import backends, hookspecs, reaper
from .backends.base import Backend
from .cluster import Cluster
from .config import MeronodesConfig, build_config
from .errors import ConfigurationError, NodeError
from .factory import ClusterFactory
from .node import Node
from .options import GROUP, OPTIONS
from .redact import redact
from .reuse import ReuseStore
from .run_context import RunContext
from .sharing import SESSION_KEY, SharedClusters, Worker, announce, finished_tests, new_session_id, remove_meeting_dirs
from .state_dir import clusters_dir

_SETTINGS = pytest.StashKey[MeronodesConfig]()
_KEPT = pytest.StashKey[list[str]]()
_ITEM_CLUSTERS = pytest.StashKey[list[Cluster]]()
_STARTED = pytest.StashKey[list[Cluster]]()  # every cluster this process started, to find a node's
_FAILED = pytest.StashKey[set[str]]()  # ids of the clusters a failed test used (--keep-nodes-on-failure)
_PANICS_SEEN = pytest.StashKey[dict[tuple[str, str], int]]()  # (cluster, node) -> panic lines seen so far
_SESSION_ID = pytest.StashKey[str]()  # xdist controller: where its workers meet (sharing.py)
LOG_LINES = 40
PANIC = "panicked at"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "Calimero node clusters (pytest-meronodes)")
    for spec in OPTIONS:
        text = f"{spec.help} [env {spec.env}; default {spec.default or 'none'}]"
        if spec.kind == "bool":
            group.addoption(spec.flag, dest=spec.name, action="store_const", const=True, default=None, help=text)
            # the off switch, so the command line can override an env or ini "on"
            no_flag = "--no-" + spec.flag[2:]
            group.addoption(no_flag, dest=spec.name, action="store_const", const=False, help=f"turn {spec.flag} off")
            parser.addini(spec.name, spec.help, type="bool", default=None)
        elif spec.kind == "list":
            group.addoption(spec.flag, dest=spec.name, action="append", default=None, help=text)
            parser.addini(spec.name, spec.help, type="linelist", default=[])
        else:
            group.addoption(spec.flag, dest=spec.name, default=None, help=text)
            parser.addini(spec.name, spec.help, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "nodes(count=1, auth=None, config=None, config_path=None, log_level=None, names=None): "
        "the `cluster` fixture starts this cluster of Calimero nodes for the test",
    )
    config.addinivalue_line(
        "markers",
        "allow_panics: a node of this test may log a panic (`panicked at`) without failing the test",
    )
    try:
        config.stash[_SETTINGS] = build_config(config)
    except ConfigurationError as error:
        raise pytest.UsageError(f"pytest-meronodes: {error}") from None
    config.stash[_KEPT] = []
    config.stash[_STARTED] = []
    config.stash[_FAILED] = set()
    config.stash[_PANICS_SEEN] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    """The controller (not an xdist worker) removes what dead runs left: their processes, homes,
    port reservations and, with the Docker backend, containers, networks and volumes."""
    config = session.config
    worker = Worker.of(getattr(config, "workerinput", None))
    if worker is not None:
        announce(worker)  # for the worker that starts a shared cluster: who else may still use it
        return
    # whatever this session's backend: a dead Docker run's containers are no less dead
    try:
        result = reaper.reap()
    except (OSError, DockerException) as error:  # cleaning up must never stop a session
        warnings.warn(f"pytest-meronodes: cleaning up after dead runs failed: {error}", stacklevel=1)
        return
    if result:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"meronodes: cleaned up after dead runs: {result.summary()}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [backends.header(config.stash[_SETTINGS])]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A `nodes` marker on a test that never asks for `cluster` would start nothing, silently. (A
    marker on a class or module may cover tests that do not use it: only the test's own counts.)"""
    own = getattr(item, "own_markers", [])
    if any(marker.name == "nodes" for marker in own) and "cluster" not in getattr(item, "fixturenames", ()):
        raise ConfigurationError(
            f"{item.nodeid}: the nodes marker describes the cluster of the `cluster` fixture, which this test "
            f"does not use; add a `cluster` argument, or call node_cluster(...) instead of the marker"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: the place where this session's workers meet to share clusters."""
    config = node.config
    if _SESSION_ID not in config.stash:
        config.stash[_SESSION_ID] = new_session_id()
    node.workerinput[SESSION_KEY] = config.stash[_SESSION_ID]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    for cluster in _clusters_of(item):
        item.config.stash[_FAILED].add(cluster.id)
        for node in cluster:
            title = f"meronodes: log of {node.name} (last {LOG_LINES} lines)"
            report.sections.append((title, redact(node.log_tail(LOG_LINES))))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A cluster handed to a test must be whole when the test starts (a session cluster may have
    lost a node in an earlier test); a node that dies during the test fails it, with its name,
    exit code and log tail, even if the test itself did not notice."""
    for cluster in _clusters_of(item):
        try:
            cluster.check_alive()
        except NodeError as error:
            raise NodeError(error.node, f"cluster {cluster.id} lost this node before the test: {error.reason}",
                            exit_code=error.exit_code, log_tail=error.log_tail) from None
    outcome = yield
    for cluster in _clusters_of(item):
        if not cluster.stopped:
            cluster.check_alive()
        # one read of each log per test: what earlier tests saw is remembered, not read again
        seen = item.config.stash[_PANICS_SEEN]
        for node in cluster:
            panics = _panics(node)
            new = panics[seen.get((cluster.id, node.name), 0):]
            seen[(cluster.id, node.name)] = len(panics)
            if new and item.get_closest_marker("allow_panics") is None:
                raise NodeError(node.name, f"logged a panic during the test: {new[0].strip()}\n(mark the test "
                                f"@pytest.mark.allow_panics if the panic is what it provokes)",
                                log_tail=node.log_tail())
    return outcome


def _panics(node: Node) -> list[str]:
    """The node's log lines that say a Rust panic happened (merod keeps running after a panic in
    a task: only its log tells)."""
    return [line for line in node.logs().splitlines() if PANIC in line]


def _clusters_of(item: pytest.Item) -> Iterator[Cluster]:
    """The clusters a test started, and those fixtures handed it (session clusters too)."""
    seen: set[int] = set()
    handed = [value for value in getattr(item, "funcargs", {}).values() if isinstance(value, (Cluster, Node))]
    started = item.config.stash.get(_STARTED, [])
    for candidate in [*item.stash.get(_ITEM_CLUSTERS, []), *handed]:
        cluster = candidate if isinstance(candidate, Cluster) else _cluster_of(candidate, started)
        if cluster is not None and id(cluster) not in seen:
            seen.add(id(cluster))
            yield cluster


def _cluster_of(node: Node, clusters: list[Cluster]) -> Cluster | None:
    return next((cluster for cluster in clusters if any(node is member for member in cluster)), None)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.section("meronodes: clusters left running")
        for text in kept:
            terminalreporter.write_line(text)


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker prints no summary: it hands what it left running to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        kept: list[str] = session.config.stash.get(_KEPT, [])
        workeroutput["meronodes_kept"] = list(kept)
        worker = Worker.of(getattr(session.config, "workerinput", None))
        if worker is not None:
            finished_tests(worker)  # also a worker that ran no test
    elif not hasattr(session.config, "workerinput"):
        with contextlib.suppress(OSError):  # cleaning up must never fail a session
            remove_meeting_dirs()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: collect what a worker left running, for the terminal summary."""
    kept = getattr(node, "workeroutput", {}).get("meronodes_kept", [])
    node.config.stash[_KEPT].extend(kept)


@pytest.fixture(scope="session")
def meronodes_config(pytestconfig: pytest.Config) -> MeronodesConfig:
    """The resolved pytest-meronodes settings of this session."""
    return pytestconfig.stash[_SETTINGS]


@pytest.fixture(scope="session")
def meronodes_run(meronodes_config: MeronodesConfig) -> RunContext:
    """What this session owns: its run id and owner, its record for later reapers, and where its
    cluster directories go: this user's private directory of the plugin, which nothing rotates
    (pytest's basetemp is: a kept cluster would lose its logs and tokens three sessions later),
    unless --node-base-dir says otherwise."""
    base_dir = meronodes_config.base_dir or clusters_dir()
    base_dir.mkdir(parents=True, exist_ok=True)
    return RunContext.create(base_dir)


@pytest.fixture(scope="session")
def meronodes_backend(meronodes_config: MeronodesConfig, meronodes_run: RunContext) -> Backend:
    """The backend that starts this session's clusters."""
    return backends.create_backend(meronodes_config, meronodes_run)


def _handed_out(config: pytest.Config, cluster: Cluster) -> None:
    """A cluster the plugin checks around each test that uses it. A view of one that other
    processes use too (a shared or reused cluster) may have logged panics before it came here:
    only later ones count."""
    config.stash[_STARTED].append(cluster)
    if cluster.refuse_stop:
        seen = config.stash[_PANICS_SEEN]
        for node in cluster:
            seen[(cluster.id, node.name)] = len(_panics(node))


def _clusters(
    config: pytest.Config, settings: MeronodesConfig, backend: Backend, run: RunContext, test: pytest.Item | None,
    reuse: ReuseStore | None = None,
) -> Iterator[ClusterFactory]:
    """A factory whose clusters the plugin can find (a node handed to a test, a test's own) and
    which stops them at the end, except those --keep-nodes(-on-failure) keeps."""

    def started(cluster: Cluster) -> None:
        _handed_out(config, cluster)
        if test is not None:
            test.stash[_ITEM_CLUSTERS].append(cluster)

    if test is not None:
        test.stash[_ITEM_CLUSTERS] = []
    factory = ClusterFactory(settings, backend, run, on_start=started, reuse=reuse)
    yield factory
    failed = config.stash[_FAILED]
    kept = factory.close(keep=lambda cluster: settings.keep_nodes or (
        settings.keep_nodes_on_failure and cluster.id in failed))
    config.stash[_KEPT].extend(kept)


@pytest.fixture(scope="session")
def node_cluster_factory(
    pytestconfig: pytest.Config, meronodes_config: MeronodesConfig, meronodes_backend: Backend,
    meronodes_run: RunContext,
) -> Iterator[ClusterFactory]:
    """Start clusters that live for the whole session: `node_cluster_factory(count=3)`. With
    --reuse-nodes they outlive it, and are taken from an earlier session where one is kept."""
    reuse = None
    if meronodes_config.reuse_nodes:
        reuse = ReuseStore(
            meronodes_config,
            on_reuse=lambda cluster: pytestconfig.hook.pytest_meronodes_reset_cluster(cluster=cluster),
            reap=lambda cluster_id: _reap_one(cluster_id),
        )
    yield from _clusters(pytestconfig, meronodes_config, meronodes_backend, meronodes_run, None, reuse)


def _reap_one(cluster_id: str) -> None:
    reaper.reap(clusters=[cluster_id])


@pytest.fixture(scope="session")
def shared_node_cluster(
    pytestconfig: pytest.Config, meronodes_config: MeronodesConfig, node_cluster_factory: ClusterFactory,
) -> Iterator[SharedClusters]:
    """One cluster per spec for the whole session, shared by every xdist worker:
    `shared_node_cluster(count=3)` starts it in the first worker that asks, hands it to the others,
    and stops it once all of them are done. It cannot be stopped or faulted by a test."""
    worker = Worker.of(getattr(pytestconfig, "workerinput", None))
    shared = SharedClusters(meronodes_config, node_cluster_factory, worker,
                            on_view=lambda cluster: _handed_out(pytestconfig, cluster))
    yield shared
    shared.close()


@pytest.fixture
def node_cluster(
    request: pytest.FixtureRequest, meronodes_config: MeronodesConfig, meronodes_backend: Backend,
    meronodes_run: RunContext,
) -> Iterator[ClusterFactory]:
    """Start clusters for one test: `cluster = node_cluster(count=3, auth="embedded")`."""
    yield from _clusters(request.config, meronodes_config, meronodes_backend, meronodes_run, request.node)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, node_cluster: ClusterFactory) -> Cluster:
    """The cluster described by the test's `@pytest.mark.nodes(...)` marker."""
    marker = request.node.get_closest_marker("nodes")
    arguments: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        if len(marker.args) > 1 or "count" in arguments:
            raise ConfigurationError("the nodes marker takes at most one positional argument: count")
        arguments["count"] = marker.args[0]
    return node_cluster(**arguments)
