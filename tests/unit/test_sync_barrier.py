"""When the sync barrier calls members in sync, and how it describes one that is not."""

from __future__ import annotations

from pytest_meronodes.records import ContextInfo, SyncStatus
from pytest_meronodes.shared_context import MemberState, in_sync


def member(name: str, *, initialised: bool = True, state_hash: str = "H", heads: tuple[str, ...] = ("aa",),
           problem: str | None = None) -> MemberState:
    status = SyncStatus("c", initialised, "idle" if initialised else "waitingForPeers", 0, None, {})
    info = ContextInfo("c", "app", state_hash, heads, None, {})
    return MemberState(name, None if problem else status, None if problem else info, problem)


def test_members_with_one_state_hash_are_in_sync_whatever_their_heads() -> None:
    # a real merod keeps different heads once the hashes match (recordings, steps 33-34)
    states = [member("node1", heads=("aa", "bb")), member("node2", heads=("aa",))]
    assert in_sync(states)
    assert not in_sync(states, same_dag_heads=True)
    assert in_sync([member("node1"), member("node2")], same_dag_heads=True)


def test_a_different_hash_an_uninitialised_member_or_a_missing_context_is_not_in_sync() -> None:
    assert not in_sync([member("node1"), member("node2", state_hash="other")])
    assert not in_sync([member("node1"), member("node2", initialised=False)])
    assert not in_sync([member("node1"), member("node2", problem="does not have the context")])
    assert not in_sync([])


def test_a_member_describes_its_sync_state_hash_and_heads() -> None:
    assert member("node1", heads=("1f260e850b028d16",)).describe() == (
        "node1: initialised, sync idle; state hash H; DAG heads 1f260e850b02"
    )
    assert member("node2", initialised=False, heads=()).describe() == (
        "node2: NOT initialised, sync waitingForPeers; state hash H; DAG heads none"
    )
    assert member("node3", problem="does not have the context (ContextNotFound)").describe() == (
        "node3: does not have the context (ContextNotFound)"
    )
