"""The `nodes` marker and the `cluster` fixture that reads it."""

from __future__ import annotations

from tests.simhelpers import SIM

from .support import Inner


def test_marker_describes_the_cluster(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nodes(count=2, auth="embedded")
        def test_embedded(cluster):
            assert len(cluster) == 2
            for node in cluster:
                assert node.client.peers_count() == 1
                assert node.client.token

        @pytest.mark.nodes(3)
        def test_positional_count(cluster):
            assert len(cluster) == 3

        @pytest.mark.nodes(count=2, names=["x", "y"], config={"sync.interval_ms": 250}, log_level="debug")
        def test_every_argument(cluster):
            assert cluster.names == ["x", "y"]
            assert "sync" in (cluster["x"].home / "config.toml").read_text()
            assert "DEBUG" in cluster["y"].logs()

        def test_without_marker(cluster):
            assert len(cluster) == 1

        @pytest.mark.nodes(count=2)
        class TestOnAClass:
            def test_inherits_the_marker(self, cluster):
                assert len(cluster) == 2
        """
    )
    result = inner.run(SIM, "--strict-markers")
    result.assert_outcomes(passed=5)
    inner.assert_nothing_left()


def test_invalid_marker_arguments_are_clear_errors(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nodes(count=2, colour="blue")
        def test_unknown_argument(cluster):
            pass

        @pytest.mark.nodes(count=0)
        def test_zero_nodes(cluster):
            pass

        @pytest.mark.nodes(count=1, auth="magic")
        def test_unknown_auth_mode(cluster):
            pass

        @pytest.mark.nodes(2, count=2)
        def test_count_twice(cluster):
            pass
        """
    )
    result = inner.run(SIM, "--strict-markers")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unknown_argument*",
            "E *ConfigurationError: unknown argument(s) colour; node_cluster and the nodes marker take count, *",
            "*ERROR at setup of test_zero_nodes*",
            "E *ConfigurationError: count must be a positive integer, got 0",
            "*ERROR at setup of test_unknown_auth_mode*",
            "E *ConfigurationError: unknown auth mode 'magic'; use None, 'embedded' or 'proxy'",
            "*ERROR at setup of test_count_twice*",
            "E *ConfigurationError: the nodes marker takes at most one positional argument: count",
        ]
    )
    inner.assert_nothing_left()


def test_marker_is_registered(inner: Inner) -> None:
    result = inner.run("--markers", base_dir=False)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["@pytest.mark.nodes(count=1, auth=None, config=None, *): *cluster*"])
