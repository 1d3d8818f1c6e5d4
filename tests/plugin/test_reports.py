"""A failed test's report carries the tail of every node's log; a passing test's does not."""

from __future__ import annotations

from typing import Any

from tests.simhelpers import SIM

from .support import Inner

# Record the meronodes sections of every report, to check the ones pytest does not print.
SECTIONS_HOOK = """
@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    append_record({
        "report": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "sections": {title: content for title, content in report.sections if title.startswith("meronodes")},
    })


@pytest.fixture(scope="session")
def shared(node_cluster_factory):
    return node_cluster_factory(count=2, names=["s1", "s2"])
"""


def sections_of(inner: Inner, test: str) -> dict[str, dict[str, Any]]:
    """The meronodes sections of the test's reports, by phase."""
    return {
        line["when"]: line["sections"]
        for line in inner.lines()
        if "report" in line and line["report"].endswith(f"::{test}")
    }


def test_failed_test_report_carries_every_nodes_log_tail(inner: Inner) -> None:
    inner.conftest(SECTIONS_HOOK)
    inner.pytester.makepyfile(
        """
        import pytest

        def test_fails_with_cluster(node_cluster):
            node_cluster(count=2)
            assert False, "boom"

        def test_passes_with_cluster(node_cluster):
            node_cluster(count=2)

        @pytest.mark.nodes(count=2, names=["m1", "m2"])
        def test_fails_with_marker(cluster):
            assert False, "boom"

        def test_fails_with_session_cluster(shared):
            assert False, "boom"

        def test_fails_without_cluster():
            assert False, "boom"
        """
    )
    result = inner.run(SIM, "-rP")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails_with_cluster _*",
            "*- meronodes: log of node1 (last 40 lines) -*",
            "* INFO calimero_node::run: Node started successfully",
            "*- meronodes: log of node2 (last 40 lines) -*",
            "* INFO calimero_node::run: Node started successfully",
            "*_ test_fails_with_marker _*",
            "*- meronodes: log of m1 (last 40 lines) -*",
            "*_ test_fails_with_session_cluster _*",
            "*- meronodes: log of s1 (last 40 lines) -*",
            "*Node started successfully",
            "*- meronodes: log of s2 (last 40 lines) -*",
        ]
    )

    failed = sections_of(inner, "test_fails_with_cluster")
    assert list(failed["call"]) == [
        "meronodes: log of node1 (last 40 lines)",
        "meronodes: log of node2 (last 40 lines)",
    ]
    for tail in failed["call"].values():
        assert "Node started successfully" in tail
        assert 0 < len(tail.splitlines()) <= 40
    # the marker's cluster reaches the report once, though the test got it twice (stash and funcarg)
    assert list(sections_of(inner, "test_fails_with_marker")["call"]) == [
        "meronodes: log of m1 (last 40 lines)",
        "meronodes: log of m2 (last 40 lines)",
    ]
    assert list(sections_of(inner, "test_fails_with_session_cluster")["call"]) == [
        "meronodes: log of s1 (last 40 lines)",
        "meronodes: log of s2 (last 40 lines)",
    ]
    passed = sections_of(inner, "test_passes_with_cluster")
    assert set(passed) == {"setup", "call", "teardown"}
    assert all(sections == {} for sections in passed.values())
    assert all(sections == {} for sections in sections_of(inner, "test_fails_without_cluster").values())
    inner.assert_nothing_left()


def test_log_tail_is_the_end_of_a_long_log(inner: Inner) -> None:
    inner.conftest(SECTIONS_HOOK)
    inner.pytester.makepyfile(
        """
        def test_fails(node_cluster):
            node = node_cluster(count=1, log_level="debug")[0]
            for _ in range(60):
                node.client.get("/admin-api/health")
            node.client.get("/admin-api/health?marker=last-request")
            assert False
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(failed=1)
    tail = sections_of(inner, "test_fails")["call"]["meronodes: log of node1 (last 40 lines)"]
    lines = tail.splitlines()
    assert len(lines) == 40
    assert "last-request" in lines[-1]
    assert "Node started successfully" not in tail
    inner.assert_nothing_left()
