"""The one start path with a backend of the test's own: the order of the steps, and that a start
that fails midway removes what was made, whichever step failed. No process, no network."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from pytest_meronodes.backends.base import ClusterPlace, InitResult, StartedNode
from pytest_meronodes.backends.swarm import NodeSlot, NoNetworkFaults
from pytest_meronodes.cluster import Cluster
from pytest_meronodes.config import settings_from
from pytest_meronodes.errors import NodeStartError
from pytest_meronodes.run_context import RunContext
from pytest_meronodes.spec import ClusterSpec
from pytest_meronodes.start import ClusterStart
from pytest_meronodes.versions import MerodRelease

SETTINGS = dataclasses.replace(settings_from({}), startup_timeout=5.0)
GENERATED = {"identity": {"peer_id": "12D3KooWpeer"}, "swarm": {}, "bootstrap": {"nodes": []}, "server": {},
             "sync": {}, "datastore": {}, "blobstore": {}, "context": {}}


class FakeRuntime:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def exit_code(self) -> int | None:
        return None

    def oom_killed(self) -> bool:
        return False

    def logs(self) -> str:
        return ""

    def log_tail(self, lines: int) -> str:
        return ""

    def upload(self, local_path: Path) -> str:
        return str(local_path)

    def stop(self, grace: float = 5.0) -> None:
        self.calls.append(f"stop {self.name}")

    def end(self) -> None:
        self.calls.append(f"end {self.name}")

    def start(self) -> None:
        self.calls.append(f"start again {self.name}")

    def kill(self, signum: int, grace: float = 5.0) -> None:
        self.calls.append(f"kill {self.name}")

    def pause(self) -> None:
        self.calls.append(f"pause {self.name}")

    def resume(self) -> None:
        self.calls.append(f"resume {self.name}")

    def capture(self) -> None:
        self.calls.append(f"capture {self.name}")

    def describe(self) -> str:
        return self.name

    def reference(self) -> dict[str, Any]:
        return {"kind": "fake", "name": self.name}


class FakeHosted:
    """Records what the start path asks of it; fails where the test says."""

    def __init__(self, calls: list[str], fail_at: str) -> None:
        self.calls, self.fail_at = calls, fail_at

    def lay_out(self, names: Sequence[str]) -> list[NodeSlot]:
        self.calls.append("lay_out")
        return [NodeSlot(name, "/home", "127.0.0.1", 2000 + i, 3000 + i, "127.0.0.1") for i, name in enumerate(names)]

    def proxy_front(self, credentials: Any) -> Any:
        raise AssertionError("no proxy was asked for")

    def init_node(self, slot: NodeSlot, merod_args: list[str], admin_password: str | None,
                  deadline: float) -> InitResult:
        self.calls.append(f"init {slot.name}")
        assert merod_args[:5] == ["--home", "/home", "--node", slot.name, "init"]
        if self.fail_at == f"init {slot.name}":
            return InitResult(1, "Error: the disk is full")
        return InitResult(0, "", tomli_w.dumps(GENERATED))

    def start_node(self, slot: NodeSlot, merod_args: list[str], config: dict[str, Any],
                   environment: dict[str, str]) -> StartedNode:
        self.calls.append(f"start {slot.name}")
        assert merod_args[-1] == "run"
        assert environment["RUST_BACKTRACE"] == "1"
        # every other node is a bootstrap peer, by the address the backend laid out
        assert len(config["bootstrap"]["nodes"]) == 2
        if self.fail_at == f"start {slot.name}":
            raise NodeStartError(slot.name, "the backend could not start it", gate="start")
        return StartedNode(FakeRuntime(slot.name, self.calls), "http://127.0.0.1:1", 1, 2, None, None)

    def remove_node(self, slot: NodeSlot) -> None:
        self.calls.append(f"remove {slot.name}")

    def network_faults(self) -> NoNetworkFaults:
        return NoNetworkFaults("a test's backend has no network")

    def close(self) -> None:
        self.calls.append("close")


class FakeLauncher:
    name = "fake"

    def __init__(self, fail_at: str) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at

    def release(self) -> MerodRelease:
        return MerodRelease.from_version_text("merod 0.11.0-rc.25")

    def host(self, place: ClusterPlace) -> FakeHosted:
        assert place.directory.is_dir()
        return FakeHosted(self.calls, self.fail_at)

    def keep_instructions(self, cluster: Cluster) -> str:
        return ""


@pytest.fixture
def run(tmp_path: Path) -> RunContext:
    return RunContext.create(tmp_path / "clusters", runs_dir=tmp_path / "runs")


def _start(run: RunContext, fail_at: str) -> tuple[FakeLauncher, pytest.ExceptionInfo[NodeStartError]]:
    launcher = FakeLauncher(fail_at)
    spec = ClusterSpec(count=3, names=("node1", "node2", "node3"))
    with pytest.raises(NodeStartError) as failure:
        ClusterStart(launcher, SETTINGS, run).start_cluster(spec, run.next_cluster_id())
    return launcher, failure


def test_a_failed_init_removes_every_node_the_cluster_and_its_record(run: RunContext) -> None:
    launcher, failure = _start(run, fail_at="init node2")
    assert (failure.value.gate, failure.value.node, failure.value.exit_code) == ("init", "node2", 1)
    assert "the disk is full" in str(failure.value)
    assert not any(call.startswith("start") for call in launcher.calls)
    assert sorted(call for call in launcher.calls if call.startswith("remove")) == [
        "remove node1", "remove node2", "remove node3"]
    assert launcher.calls[-1] == "close"
    assert list(run.clusters_dir.iterdir()) == []
    assert run.registry.record.clusters == {}


def test_a_failed_start_stops_and_captures_the_nodes_that_did_start(run: RunContext) -> None:
    launcher, failure = _start(run, fail_at="start node3")
    assert failure.value.gate == "start"
    for name in ("node1", "node2"):  # started: stopped, their logs kept, then removed
        calls = [call for call in launcher.calls if call.endswith(name)]
        assert calls[-3:] == [f"end {name}", f"capture {name}", f"remove {name}"]
    assert "end node3" not in launcher.calls  # it never started: nothing to stop, but its volume may exist
    assert "remove node3" in launcher.calls
    assert launcher.calls[-1] == "close"
    assert list(run.clusters_dir.iterdir()) == []


class RegisteredLauncher(FakeLauncher):
    """A third backend, as a user would add one: a class and a line in the registry."""

    def __init__(self, config: object, run: RunContext) -> None:
        super().__init__(fail_at="")

    @staticmethod
    def header(config: object) -> str:
        return "nodes of a test's own"


def test_a_backend_is_added_by_registering_its_class(monkeypatch: pytest.MonkeyPatch, run: RunContext) -> None:
    from pytest_meronodes.backends import create_backend, header
    from pytest_meronodes.backends.registry import BACKENDS
    from pytest_meronodes.config import Given

    monkeypatch.setitem(BACKENDS, "fake", f"{__name__}:RegisteredLauncher")
    settings = settings_from({"node_backend": Given(cli="fake")})  # the option accepts the new name
    assert header(settings) == "meronodes: backend=fake, nodes of a test's own"
    backend = create_backend(settings, run)
    assert isinstance(backend, ClusterStart)  # a launcher gets the one start path
    assert isinstance(backend.launcher, RegisteredLauncher)
