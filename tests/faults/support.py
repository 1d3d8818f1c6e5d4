"""What the inner fault tests share: a bounded wait for what peers observe, and an app file."""

from __future__ import annotations

# In the inner session's conftest: `until` polls a condition a bounded time (peers notice a node's
# loss by the swarm's keep-alive, within seconds); `app` is a file the simulator accepts as its
# kv-store application.
FAULTS_CONFTEST = '''
import time

import pytest


def until(check, timeout=30.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def peer_counts(nodes):
    return {node.name: node.client.peers_count() for node in nodes}


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "kv_store.wasm"
    path.write_bytes(b"\\0asm\\1\\0\\0\\0")  # the simulator runs its kv-store whatever the file
    return path
'''
