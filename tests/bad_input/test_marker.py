"""A `nodes` marker on a test that never asks for `cluster` would start nothing, silently."""

from __future__ import annotations

from tests.plugin.support import Inner
from tests.simhelpers import SIM


def test_a_nodes_marker_without_the_cluster_fixture_is_an_error(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.nodes(count=2)  # a module marker may cover tests without `cluster`

        @pytest.mark.nodes(count=3)
        def test_marked(node_cluster):
            pass

        def test_covered_by_the_module_marker():
            pass
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines([
        "E *ConfigurationError: test_a_nodes_marker_without_the_cluster_fixture_is_an_error.py::test_marked: the "
        "nodes marker describes the cluster of the `cluster` fixture, which this test does not use; add a "
        "`cluster` argument, or call node_cluster(...) instead of the marker",
    ])
    inner.assert_nothing_left()
