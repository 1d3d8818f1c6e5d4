"""Clusters that cannot start: a clear error naming the node and the gate, and nothing left behind
(no process, no home, no port reservation)."""

from __future__ import annotations

import pytest

from tests.simhelpers import SIM

from .support import Inner, fake_merod, write_executable

MARKED_TEST = """
    import pytest

    @pytest.mark.nodes(count=2)
    def test_cluster(cluster):
        pass
"""


def test_a_program_that_is_not_merod(inner: Inner) -> None:
    program = write_executable(inner.pytester.path / "not-merod", "#!/bin/sh\necho 'hello, I am not merod'\n")
    inner.pytester.makepyfile(MARKED_TEST)
    result = inner.run(f"--merod-binary={program}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"meronodes: backend=binary, merod unavailable: '{program}' does not look like merod: *",
            f"E *MerodProgramError: '{program}' does not look like merod: `--version` exited 0 and printed "
            "'hello, I am not merod'; point --merod-binary at a merod binary",
        ]
    )
    inner.assert_nothing_left()


def test_a_node_whose_run_exits(inner: Inner) -> None:
    merod = fake_merod(
        inner.pytester.path / "merod",
        'print("fatal: cannot open the store (fake merod)", flush=True)\nsys.exit(3)',
    )
    inner.pytester.makepyfile(MARKED_TEST)
    result = inner.run(f"--merod-binary={merod}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NodeStartError: node 'node1': process exited during start (/admin-api/health gate) (exit code 3)*",
            "E *--- last lines of node1's log ---",
            "E *fatal: cannot open the store (fake merod)",
        ]
    )
    inner.assert_nothing_left()


def test_a_node_whose_init_fails(inner: Inner) -> None:
    merod = write_executable(
        inner.pytester.path / "merod",
        """#!/bin/sh
case " $* " in
  *" --version "*) echo "merod 0.11.0-rc.25" ;;
  *" init "*) echo "Error: permission denied: /data (fake)" >&2; exit 1 ;;
  *) exit 2 ;;
esac
""",
    )
    inner.pytester.makepyfile(MARKED_TEST)
    result = inner.run(f"--merod-binary={merod}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NodeStartError: node 'node1': merod init failed (exit code 1)*",
            "E *Error: permission denied: /data (fake)",
        ]
    )
    inner.assert_nothing_left()


@pytest.mark.parametrize("source", ["cli", "env"])
def test_a_node_that_never_becomes_healthy(inner: Inner, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    merod = fake_merod(
        inner.pytester.path / "merod",
        'print("fake merod: starting, never serving", flush=True)\ntime.sleep(600)',
    )
    if source == "env":
        monkeypatch.setenv("MERONODES_NODE_STARTUP_TIMEOUT", "8")
    inner.pytester.makepyfile(MARKED_TEST)
    timeout = ["--node-startup-timeout=8", "--node-count=5"] if source == "cli" else []
    result = inner.run(f"--merod-binary={merod}", *timeout)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NodeStartError: node 'node1': /admin-api/health gate: not 200 within the startup timeout of 8 s "
            "(last answer: no connection)*",
            "E *fake merod: starting, never serving",
        ]
    )
    inner.assert_nothing_left()


def test_an_init_that_hangs_is_cut_at_the_startup_timeout(inner: Inner) -> None:
    merod = fake_merod(inner.pytester.path / "merod", "time.sleep(600)", instead_of="init")
    inner.pytester.makepyfile(MARKED_TEST)
    result = inner.run(f"--merod-binary={merod}", "--node-startup-timeout=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NodeStartError: node 'node*': merod init did not finish within the startup timeout of 1 s",
            "E *raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) if init is "
            "only slow; otherwise run merod init by hand with the same flags to see where it hangs",
        ]
    )
    inner.assert_nothing_left()  # the hung init processes among them


def test_nodes_that_never_mesh(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nodes(count=2, config={"bootstrap.nodes": []})
        def test_cluster(cluster):
            pass
        """
    )
    result = inner.run(SIM, "--node-startup-timeout=8")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *NodeStartError: node 'node1': mesh gate: 2 of 2 node(s) did not see their wired peers (full "
            "topology) within * s; peers seen: node1=0 (wanted 1), node2=0 (wanted 1)*",
        ]
    )
    inner.assert_nothing_left()
