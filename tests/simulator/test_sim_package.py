"""The simulator as a package of its own: it imports nothing of the plugin (nor the plugin's heavy
dependencies), its modules import no circle, its version is the distribution's, and its faults are checked."""

from __future__ import annotations

import ast
from importlib.metadata import version
from pathlib import Path

import pytest

import merod_sim
from tests.simhelpers import Merod

PACKAGE = Path(merod_sim.__file__).parent
FOREIGN = ("pytest_meronodes", "requests", "docker", "urllib3")


def _imported(stderr: str) -> set[str]:
    """Modules named by PYTHONPROFILEIMPORTTIME's lines (`import time: self | cumulative | name`)."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def _foreign(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in FOREIGN}


def test_version_imports_nothing_of_the_plugin(sim: Merod) -> None:
    result = sim.cli(None, "--version", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    imported = _imported(result.stderr)
    assert "merod_sim.cli" in imported  # the profile did list the imports
    assert _foreign(imported) == set()


def test_a_running_node_imports_nothing_of_the_plugin(sim: Merod) -> None:
    running = sim.start(sim.init("n1"), env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert running.terminate() == 0
    imported = _imported(running.log_text())
    assert "merod_sim.node" in imported
    assert _foreign(imported) == set()


def _imports_within_the_package() -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere (at the top, in functions, or for type
    checking only: a circle through any of them is one the next edit can close)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        module = path.stem
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets |= {node.module} if node.module else {alias.name for alias in node.names}
        graph[module] = {target for target in targets if (PACKAGE / f"{target}.py").exists()} - {module}
    return graph


def test_no_import_circle_inside_the_simulator() -> None:
    graph = _imports_within_the_package()
    assert "node" in graph["cli"]  # the walk did see the imports inside functions

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    circles = sorted(module for module in graph if reaches(module, module, {module}))
    assert circles == [], f"modules on an import circle: {circles}"


def test_the_simulator_is_released_under_the_distributions_version() -> None:
    assert merod_sim.__version__ == version("pytest-meronodes")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("exit-at-strat", "MEROD_SIM_FAULT: unknown fault 'exit-at-strat'; known: exit-at-start, exit-after, "
                          "exit-on-peers, never-healthy, no-dial, no-sync"),
        ("exit-after=soon", "MEROD_SIM_FAULT: exit-after takes a whole number, got 'exit-after=soon'"),
        ("no-sync=1", "MEROD_SIM_FAULT: no-sync takes no value, got 'no-sync=1'"),
    ],
)
def test_a_fault_it_does_not_know_fails_the_run(sim: Merod, fault: str, message: str) -> None:
    """A typo in a test's fault must not pass for a healthy node."""
    node = sim.init("n1")
    result = sim.cli(node.name, "run", env={"MEROD_SIM_FAULT": fault})
    assert result.returncode == 1
    assert f"   0: {message}" in result.stderr.splitlines()
