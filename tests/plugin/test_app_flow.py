"""The Calimero app flow through the plugin: namespaces, contexts, invitations, joins and the sync
barrier, as `cluster.shared_context` and the typed client calls give them to a test."""

from __future__ import annotations

import pytest

from tests.simhelpers import SIM

from .support import Inner

APP = """
import pathlib
import pytest

@pytest.fixture
def app(tmp_path):
    path = tmp_path / "kv_store.wasm"
    path.write_bytes(b"\\0asm\\1\\0\\0\\0")  # the simulator runs its kv-store whatever the file
    return path
"""


def test_shared_context_joins_every_node_and_syncs_their_state(inner: Inner) -> None:
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        from pytest_meronodes import Application, ContextInfo, Namespace, NodeIdentity, SyncStatus

        def test_flow(node_cluster, app):
            cluster = node_cluster(count=3)
            for node in cluster:
                assert node.client.identity() is None  # no namespace yet: merod answers 404

            ctx = cluster.shared_context(app)

            assert [node.name for node in ctx.members] == ["node1", "node2", "node3"]
            ctx.call("node1", "set", {"key": "greeting", "value": "hello"})
            state_hash = ctx.wait_for_sync()
            accounts = set()
            for node in cluster:
                assert ctx.call(node, "get", {"key": "greeting"}) == "hello"
                info = node.client.get_context(ctx.id)
                assert isinstance(info, ContextInfo) and info.state_hash == state_hash
                assert info.application_id == ctx.application_id and info.dag_heads
                status = node.client.sync_status(ctx.id)
                assert isinstance(status, SyncStatus) and status.is_initialized
                [namespace] = node.client.namespaces()
                assert isinstance(namespace, Namespace) and namespace.id == ctx.namespace_id
                identity = node.client.identity()
                assert isinstance(identity, NodeIdentity) and len(identity.account_id) == 64
                accounts.add(identity.account_id)
                [application] = node.client.applications()
                assert isinstance(application, Application) and application.id == ctx.application_id
            assert len(accounts) == 3
            assert {c.id for c in cluster["node1"].client.contexts()} == {ctx.id}
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    inner.assert_nothing_left()


def test_a_subset_shares_a_context_and_a_late_joiner_catches_up(inner: Inner) -> None:
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes import ConfigurationError

        def test_late_joiner(node_cluster, app):
            cluster = node_cluster(count=3)
            ctx = cluster.shared_context(app, nodes=["node1", "node2"])
            for number in range(3):
                ctx.call("node2", "set", {"key": f"k{number}", "value": str(number)})
            with pytest.raises(ConfigurationError, match=r"node3 is not a member.*add_member\\('node3'\\)"):
                ctx.call("node3", "len")

            ctx.add_member(cluster["node3"])

            ctx.wait_for_sync()
            assert ctx.call("node3", "entries") == {"k0": "0", "k1": "1", "k2": "2"}
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_a_member_that_never_syncs_is_named_and_never_an_application_error(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEROD_SIM_FAULT", "no-sync")  # no node ever syncs a context: joiners stay Uninitialized
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes import ContextNotReadyError, RpcError, SyncTimeoutError

        def test_never_synced(node_cluster, app):
            cluster = node_cluster(count=2)
            ctx = cluster.shared_context(app)
            ctx.call("node1", "set", {"key": "k", "value": "v"})

            with pytest.raises(SyncTimeoutError) as barrier:
                ctx.wait_for_sync(timeout=2)
            text = str(barrier.value)
            assert f"context {ctx.id} not in sync on every member within 2 s" in text
            assert "node1: initialised" in text and "node2: NOT initialised" in text

            with pytest.raises(SyncTimeoutError, match="get on node2: the node has not synced") as call:
                ctx.call("node2", "get", {"key": "k"}, timeout=1)
            assert not isinstance(call.value, RpcError)

            with pytest.raises(ContextNotReadyError) as raw:
                cluster["node2"].client.execute(ctx.id, "get", {"key": "k"})
            assert raw.value.type == "Uninitialized"
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_wait_for_context_sync_waits_for_a_node_that_joins_late_and_names_one_that_never_does(inner: Inner) -> None:
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import threading
        import pytest
        from pytest_meronodes import SyncTimeoutError

        def test_waits(node_cluster, app):
            cluster = node_cluster(count=3)
            ctx = cluster.shared_context(app, nodes=["node1", "node2"])
            ctx.call("node1", "set", {"key": "k", "value": "v"})
            outcome = {}
            node3 = cluster["node3"]
            looked = threading.Event()
            sync_status = node3.client.sync_status

            def spied(context_id):  # the barrier asked node3, which has no context yet
                try:
                    return sync_status(context_id)
                finally:
                    looked.set()

            node3.client.sync_status = spied

            def wait():
                try:
                    outcome["hash"] = cluster.wait_for_context_sync(ctx.id, timeout=60)
                except Exception as error:
                    outcome["error"] = error

            waiter = threading.Thread(target=wait)
            waiter.start()
            assert looked.wait(30)  # node3 lacked the context when the barrier first asked it
            ctx.add_member("node3")
            waiter.join()
            assert "error" not in outcome, outcome
            assert outcome["hash"] == cluster["node3"].client.get_context(ctx.id).state_hash

        def test_names_the_missing_node(node_cluster, app):
            cluster = node_cluster(count=3)
            ctx = cluster.shared_context(app, nodes=["node1", "node2"])
            with pytest.raises(SyncTimeoutError) as raised:
                cluster.wait_for_context_sync(ctx.id, timeout=1)
            assert "node3: does not have the context" in str(raised.value)
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=2)


def test_create_context_needs_a_namespace_and_says_how_to_join(inner: Inner) -> None:
    """The raw client calls follow merod: a context lives in a namespace, and a node joins a
    context only once it joined the namespace (merod does not answer before that)."""
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes import CreatedContext, NamespaceMembership, NodeError

        def test_raw_flow(node_cluster, app):
            node1, node2 = node_cluster(count=2)
            app_id = node1.install_dev_application(app)
            assert node2.install_dev_application(app) == app_id
            namespace_id = node1.client.create_namespace(app_id)
            assert len(namespace_id) == 64
            created = node1.client.create_context(app_id, namespace_id)
            assert isinstance(created, CreatedContext) and created.namespace_id == namespace_id

            with pytest.raises(NodeError, match="member of the context's namespace: join_namespace"):
                node2.client.join_context(created.context_id, timeout=1)

            invitation = node1.client.invite_to_namespace(namespace_id)
            joined = node2.client.join_namespace(namespace_id, invitation)
            assert isinstance(joined, NamespaceMembership) and joined.namespace_id == namespace_id
            assert node2.client.join_context(created.context_id).context_id == created.context_id
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_a_merod_too_old_for_namespaces_gets_one_message_naming_the_release(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEROD_SIM_VERSION", "0.10.1-rc.20")
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes import MerodVersionError

        def test_old(node_cluster, app):
            cluster = node_cluster(count=1)
            with pytest.raises(MerodVersionError) as raised:
                cluster.shared_context(app)
            assert str(raised.value).startswith(
                "shared_context (contexts in namespaces) needs merod >= 0.11.0-rc.1 "
                "(contexts in namespaces (`groupId`, `initializationParams`)); this merod is 0.10.1-rc.20"
            )
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_shared_context_checks_its_arguments_before_anything_starts(inner: Inner) -> None:
    inner.conftest(APP)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes import ConfigurationError

        def test_arguments(node_cluster, app):
            cluster = node_cluster(count=2)
            with pytest.raises(ConfigurationError, match=r"nodes must be a list of nodes or names, got 'node1'"):
                cluster.shared_context(app, nodes="node1")
            with pytest.raises(ConfigurationError, match=r"timeout must be a positive number of seconds, got 0"):
                cluster.shared_context(app, timeout=0)
            with pytest.raises(ConfigurationError, match=r"initialization_params must be .* got str 'x'"):
                cluster.shared_context(app, initialization_params="x")
            with pytest.raises(ConfigurationError, match=r"application file .*missing.wasm does not exist"):
                cluster.shared_context(app.parent / "missing.wasm")
            # nothing was installed or created on any node
            assert all(node.client.applications() == [] and node.client.namespaces() == [] for node in cluster)
            ctx = cluster.shared_context(app, nodes=["node1"])
            with pytest.raises(ConfigurationError, match=r"timeout must be a positive number of seconds, got nan"):
                ctx.wait_for_sync(timeout=float("nan"))
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


def test_embedded_auth_on_a_merod_that_cannot_mint_the_admin_at_init(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEROD_SIM_VERSION", "0.11.0-rc.12")
    inner.pytester.makepyfile("def test_old(node_cluster):\n    node_cluster(count=1, auth='embedded')\n")
    result = inner.run(SIM)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E *MerodVersionError: auth=\"embedded\" (the admin passed to merod init) needs merod >= 0.11.0-rc.17 "
        "(the admin account minted at init); this merod is 0.11.0-rc.12 (merod 0.11.0-rc.12 (merod-sim *",
    ])
    inner.assert_nothing_left()
