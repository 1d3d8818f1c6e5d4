"""ports.py: port reservations shared by every session on the machine, here in a registry directory
of the test's own (PortRegistry takes it as an argument). Two sessions are two owners in this
process; a dead owner is this process's pid with another start time, as a recycled pid looks."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meronodes import ports
from pytest_meronodes.errors import PortsUnavailableError
from pytest_meronodes.ownership import Owner, process_start_time
from pytest_meronodes.ports import PortRegistry

LIVE_START = process_start_time(os.getpid()) or ""
FIRST, LAST = 31000, 32700  # below the usual ephemeral range (32768-60999), above every range the suite uses


def live(run_id: str) -> Owner:
    return Owner(run_id, os.getpid(), LIVE_START)


def dead(run_id: str) -> Owner:
    return Owner(run_id, os.getpid(), "1")  # not this process's start time: a run that has exited


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "pytest-meronodes-ports"  # the registry creates it


@pytest.fixture
def free_range() -> Callable[[int], tuple[int, int]]:
    """A range of `size` ports that nothing on this machine uses right now."""

    def find(size: int) -> tuple[int, int]:
        for _ in range(50):
            low = random.randrange(FIRST, LAST - size)
            if all(ports._bindable(port) for port in range(low, low + size)):
                return low, low + size - 1
        raise AssertionError(f"no {size} free consecutive ports in {FIRST}-{LAST}")

    return find


def test_two_sessions_never_get_the_same_port(directory: Path, free_range: Callable[[int], tuple[int, int]]) -> None:
    port_range = free_range(8)
    first, second = PortRegistry(port_range, directory), PortRegistry(port_range, directory)
    mine = first.allocate(4, live("session1"))
    theirs = second.allocate(4, live("session2"))
    assert len(set(mine)) == len(set(theirs)) == 4
    assert not set(mine) & set(theirs)
    assert all(port_range[0] <= port <= port_range[1] for port in mine + theirs)
    assert first.reserved_by(live("session1")) == sorted(mine)
    assert [r.port for r in second.reservations()] == sorted(mine + theirs)


def test_release_gives_back_only_the_owners_own_ports(
    directory: Path, free_range: Callable[[int], tuple[int, int]]
) -> None:
    port_range = free_range(4)
    registry = PortRegistry(port_range, directory)
    mine, theirs = registry.allocate(2, live("session1")), registry.allocate(2, live("session2"))
    registry.release(theirs, live("session1"))  # not ours: nothing happens
    assert registry.reserved_by(live("session2")) == sorted(theirs)
    registry.release(mine, live("session1"))
    assert registry.reserved_by(live("session1")) == []
    assert sorted(registry.allocate(2, live("session3"))) == sorted(mine)  # free again


def test_a_full_range_is_one_error_that_says_why(directory: Path, free_range: Callable[[int], tuple[int, int]]) -> None:
    low, high = free_range(4)
    registry = PortRegistry((low, high), directory)
    registry.allocate(3, live("session1"))
    with pytest.raises(PortsUnavailableError) as raised:
        registry.allocate(2, live("session2"))
    assert str(raised.value) == (
        f"need 2 free ports in {low}-{high} but found 1 (3 reserved by live sessions, 0 in use by other programs); "
        "widen or move --node-port-range"
    )
    assert registry.reserved_by(live("session2")) == []  # all or nothing


def test_a_port_another_program_listens_on_is_skipped(directory: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        registry = PortRegistry((port, port), directory)
        with pytest.raises(PortsUnavailableError) as raised:
            registry.allocate(1, live("session1"))
    assert str(raised.value) == (
        f"need 1 free ports in {port}-{port} but found 0 (0 reserved by live sessions, 1 in use by other programs); "
        "widen or move --node-port-range"
    )


def test_reservations_of_dead_runs_are_reclaimed_and_live_ones_kept(
    directory: Path, free_range: Callable[[int], tuple[int, int]]
) -> None:
    port_range = free_range(5)
    registry = PortRegistry(port_range, directory)
    running = registry.allocate(2, live("running"))
    crashed = registry.allocate(2, dead("crashed1"))  # (an allocation removes dead runs' reservations first)
    (directory / f"{port_range[1] + 1}.json").write_text("{half-written")  # a session killed mid-write
    assert registry.reclaim_dead() == sorted([*crashed, port_range[1] + 1])
    assert [r.port for r in registry.reservations()] == sorted(running)


def test_a_session_takes_the_ports_of_a_dead_run_without_a_reap_first(
    directory: Path, free_range: Callable[[int], tuple[int, int]]
) -> None:
    port_range = free_range(2)
    registry = PortRegistry(port_range, directory)
    crashed = registry.allocate(2, dead("crashed1"))
    assert sorted(registry.allocate(2, live("session1"))) == sorted(crashed)
    assert registry.reserved_by(dead("crashed1")) == []
