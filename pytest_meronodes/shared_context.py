"""The Calimero app flow in one call: a context that a set of nodes has joined, and a sync barrier.

merod (>= 0.11.0-rc.1) keeps contexts in namespaces: the creating node installs the application,
creates a namespace and a context in it; every other node installs the application, joins the
namespace with an invitation from a member, then joins the context. A joiner holds no state
until its first sync (its calls answer `Uninitialized`), so tests wait at a barrier: every member
initialised, all reporting the same state hash.

DAG heads are shown, not required to match by default: a real merod (0.11.0-rc.25) whose state
reached a member by hash comparison rather than by replaying deltas keeps different heads for good
while its state hash matches the others' (seen in the recordings, steps 33-34, and in runs of the
examples against it), so a barrier on heads would never pass there."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import (
    ConfigurationError,
    ContextNotReadyError,
    NodeApiError,
    NodeError,
    NodeGoneError,
    NodeRequestError,
    RpcError,
    SyncTimeoutError,
)
from .parallel import run_parallel
from .polling import Waiting, poll_until
from .records import ContextInfo, SyncStatus
from .versions import Feature, MerodRelease

if TYPE_CHECKING:
    from .node import Node


class NodeLookup(Protocol):
    """What a shared context needs of its cluster: its nodes, by name or as themselves, and the
    release they run."""

    release: MerodRelease

    def node(self, node: Node | str) -> Node: ...

T = TypeVar("T")
# answers that mean "not yet" while a namespace or a context reaches a joiner: 503 (authority not
# resolvable yet), 504 (no member reachable yet), 500 (merod's generic answer while a join races sync)
_RETRYABLE_STATUS = (500, 502, 503, 504)
SYNC_POLL_MIN = 0.05


@dataclass(frozen=True)
class MemberState:
    """One member's view of the context at one moment."""

    node: str
    status: SyncStatus | None
    info: ContextInfo | None
    problem: str | None = None  # why the node could not tell (it lacks the context, an error)

    @property
    def initialised(self) -> bool:
        return self.problem is None and self.status is not None and self.status.is_initialized

    def describe(self) -> str:
        if self.problem is not None:
            return f"{self.node}: {self.problem}"
        parts = [self.status.describe() if self.status is not None else "sync status unknown"]
        if self.info is not None:
            parts.append(f"state hash {self.info.state_hash}")
            parts.append("DAG heads " + (", ".join(head[:12] for head in self.info.dag_heads) or "none"))
        return f"{self.node}: " + "; ".join(parts)


def observe(node: Node, context_id: str) -> MemberState:
    """What the node says of the context now. A node that died (or was stopped) raises its
    NodeGoneError at once: no barrier waits for it."""
    try:
        status = node.client.sync_status(context_id)
        info = node.client.get_context(context_id)
    except RpcError as error:  # sync_status of a context the node does not have
        return MemberState(node.name, None, None, f"does not have the context ({error.type})")
    except NodeApiError as error:
        problem = "does not have the context" if error.status in (400, 404) else f"HTTP {error.status}"
        return MemberState(node.name, None, None, f"{problem} ({error.body[:120]})")
    except NodeGoneError:
        raise
    except NodeRequestError as error:
        return MemberState(node.name, None, None, f"no answer ({error.reason})")
    return MemberState(node.name, status, info)


def in_sync(states: Sequence[MemberState], *, same_dag_heads: bool = False) -> bool:
    """Every member initialised, with one state hash (and one set of DAG heads, if asked)."""
    if not states or not all(state.initialised and state.info is not None for state in states):
        return False
    infos = [state.info for state in states if state.info is not None]
    if len({info.state_hash for info in infos}) != 1:
        return False
    return not same_dag_heads or len({info.dag_heads for info in infos}) == 1


def wait_for_sync(
    nodes: Sequence[Node], context_id: str, *, timeout: float = 30.0, same_dag_heads: bool = False
) -> str:
    """Until every node is initialised and all agree on the state hash (and the DAG heads, with
    `same_dag_heads`); return the hash. A node that has not joined yet, or has not synced, is
    waited for, never reported as an application error; on timeout the error names every node's
    state, heads included."""
    check_timeout(timeout)
    states: list[MemberState] = []

    def agreed_hash() -> str | Waiting:
        states[:] = [observe(node, context_id) for node in nodes]
        if in_sync(states, same_dag_heads=same_dag_heads):
            return str(states[0].info.state_hash if states[0].info else "")
        return Waiting("not in sync")

    def not_in_sync(_: str) -> SyncTimeoutError:
        lines = "\n".join(f"  {state.describe()}" for state in states)
        return SyncTimeoutError(f"context {context_id} not in sync on every member within {timeout:g} s:\n{lines}")

    # two requests per member a round: merod syncs every few hundred ms at best, so polling
    # faster than 50 ms only loads the nodes
    return poll_until(agreed_hash, deadline=time.monotonic() + timeout, timed_out=not_in_sync,
                      min_interval=SYNC_POLL_MIN)


def _retry(deadline: float, step: Callable[[], T], *, retry_on: Callable[[Exception], bool]) -> T:
    """`step` until it succeeds, while its failures are the kind that pass and time remains; then
    the last failure is raised as it was."""
    last: list[Exception] = []

    def attempt() -> T | Waiting:
        try:
            return step()
        except (NodeError, RpcError) as error:
            if not retry_on(error):
                raise
            last[:] = [error]
            return Waiting(str(error))

    return poll_until(attempt, deadline=deadline, timed_out=lambda _: last[0])


def _transient(error: Exception) -> bool:
    return isinstance(error, NodeApiError) and error.status in _RETRYABLE_STATUS


class SharedContext:
    """A context its members have joined. `call` runs a method on one member; `wait_for_sync`
    waits until every member has the same state; `add_member` lets a late joiner in."""

    def __init__(
        self, cluster: NodeLookup, *, context_id: str, namespace_id: str, application_id: str, application: Path,
        members: list[Node],
    ) -> None:
        self.cluster = cluster
        self.id = context_id
        self.namespace_id = namespace_id
        self.application_id = application_id
        self.application = application
        self.members = members

    def __repr__(self) -> str:
        return f"SharedContext({self.id!r}, members={[node.name for node in self.members]})"

    def member(self, node: Node | str) -> Node:
        found = self.cluster.node(node)
        if found not in self.members:
            raise ConfigurationError(
                f"{found.name} is not a member of context {self.id} (members: "
                f"{', '.join(n.name for n in self.members)}); add it first with ctx.add_member({found.name!r})"
            )
        return found

    def call(self, node: Node | str, method: str, args: Mapping[str, Any] | None = None, *,
             timeout: float = 30.0) -> Any:
        """Run `method` of the application on `node` and return its output. A member that has not
        synced yet is waited for (up to `timeout`); an application error raises RpcError."""
        check_timeout(timeout)
        member = self.member(node)

        def output() -> Any:
            try:
                return member.client.execute(self.id, method, args)
            except ContextNotReadyError:
                return Waiting("not synced")

        return poll_until(output, deadline=time.monotonic() + timeout,
                          timed_out=lambda _: self._not_synced(member, method, timeout))

    def _not_synced(self, member: Node, method: str, timeout: float) -> SyncTimeoutError:
        state = observe(member, self.id)
        return SyncTimeoutError(
            f"{method} on {member.name}: the node has not synced context {self.id} within {timeout:g} s "
            f"({state.describe()})"
        )

    def wait_for_sync(self, timeout: float = 30.0, *, same_dag_heads: bool = False) -> str:
        """Until every member is initialised with the same state hash; return the hash.
        `same_dag_heads=True` also waits for identical DAG heads (a real merod may never get
        there once the hashes agree: see the module's docstring)."""
        return wait_for_sync(self.members, self.id, timeout=timeout, same_dag_heads=same_dag_heads)

    def states(self) -> list[MemberState]:
        """Each member's view now (for messages, or a test that inspects sync)."""
        return [observe(node, self.id) for node in self.members]

    def add_member(self, node: Node | str, *, timeout: float = 60.0) -> None:
        """Let a node of the cluster join: install the application, take an invitation from the
        creating member, join the namespace, then the context."""
        check_timeout(timeout)
        joiner = self.cluster.node(node)
        if joiner in self.members:
            return
        application_id = joiner.install_dev_application(self.application)
        _same_application([(joiner.name, application_id)], self.application_id, self.application)
        _join(self.members[0], joiner, self.namespace_id, self.id, time.monotonic() + timeout)
        self.members.append(joiner)


def check_timeout(timeout: object) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _same_application(installed: Iterable[tuple[str, str]], expected: str, application: Path) -> None:
    for name, application_id in installed:
        if application_id != expected:
            raise ConfigurationError(
                f"{application} installed as {application_id} on {name} but as {expected} on the first member: "
                f"every member must install the same file"
            )


def _remaining(deadline: float) -> float:
    """What is left of the caller's timeout, for one request (at least a second)."""
    return max(1.0, deadline - time.monotonic())


def _join(inviter: Node, joiner: Node, namespace_id: str, context_id: str, deadline: float) -> None:
    invitation = inviter.client.invite_to_namespace(namespace_id)
    # each request waits only for what remains of the caller's timeout, not the client's default
    _retry(deadline, lambda: joiner.client.join_namespace(namespace_id, invitation, timeout=_remaining(deadline)),
           retry_on=_transient)
    _retry(deadline, lambda: joiner.client.join_context(context_id, timeout=_remaining(deadline)),
           retry_on=_transient)


def share_context(
    cluster: NodeLookup,
    application: Path,
    members: list[Node],
    *,
    initialization_params: bytes | Mapping[str, Any] | None,
    timeout: float,
) -> SharedContext:
    cluster.release.require(Feature.CONTEXTS_IN_NAMESPACES, "shared_context (contexts in namespaces)")
    check_timeout(timeout)
    if initialization_params is not None and not isinstance(initialization_params, (bytes, Mapping)):
        raise ConfigurationError(
            f"shared_context: initialization_params must be the init arguments as a dict, or raw bytes, "
            f"got {type(initialization_params).__name__} {initialization_params!r}"
        )
    if not members:
        raise ConfigurationError("shared_context needs at least one node")
    if len({node.name for node in members}) != len(members):
        raise ConfigurationError(f"shared_context: a node is named twice in {[node.name for node in members]}")
    if not application.is_file():
        raise ConfigurationError(f"shared_context: application file {application} does not exist")
    deadline = time.monotonic() + timeout
    installed: dict[str, str] = {}

    def install(node: Node) -> None:
        installed[node.name] = node.install_dev_application(application)

    run_parallel(install, members)
    creator = members[0]
    application_id = installed[creator.name]
    _same_application(installed.items(), application_id, application)
    namespace_id = creator.client.create_namespace(application_id)
    context = creator.client.create_context(application_id, namespace_id,
                                            initialization_params=initialization_params)
    run_parallel(lambda joiner: _join(creator, joiner, namespace_id, context.context_id, deadline), members[1:])
    return SharedContext(cluster, context_id=context.context_id, namespace_id=namespace_id,
                         application_id=application_id, application=application, members=list(members))
