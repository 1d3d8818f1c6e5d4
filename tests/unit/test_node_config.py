"""node_config.py: a node's config.toml composed from what `merod init` wrote, the E2E defaults,
the cluster's bootstrap peers, a user's file and dotted-key overrides, each override checked
against init's keys and types; TOML read and written with tomllib/tomli-w."""

from __future__ import annotations

import os
import re
import stat
import sys
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.node_config import (
    check_override_syntax,
    check_overrides,
    compose,
    dump_toml,
    get_dotted,
    parse_toml,
    read_toml,
    set_dotted,
    toml_type,
    write_toml,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
# what a real `merod init --auth-mode embedded` wrote (secrets redacted), bootstrap peers included
EMBEDDED_INIT = tomllib.loads((RECORDINGS / "config-after-init-embedded-auth.toml").read_text())
PEERS = ["/ip4/127.0.0.1/tcp/20001/p2p/12D3KooWpeer2", "/ip4/127.0.0.1/tcp/20003/p2p/12D3KooWpeer3"]


# -- config overrides against what init wrote --------------------------------------------------------
# A trimmed config.toml of a real `merod init` (tests/recordings/config-after-init.toml), with the
# table init writes empty.
GENERATED = tomllib.loads(
    """
mode = "standard"
[identity]
peer_id = "12D3KooWx"
keypair = "secret"
[swarm]
listen = ["/ip4/127.0.0.1/tcp/2428", "/ip4/127.0.0.1/udp/2428/quic-v1"]
[server]
listen = ["/ip4/127.0.0.1/tcp/2528"]
auth_mode = "proxy"
[server.websocket]
enabled = true
ping_interval_secs = 30
[bootstrap]
nodes = []
[discovery]
mdns = false
[discovery.rendezvous]
namespace = "/calimero/devnet/global"
discovery_rpm = 0.5
[sync]
timeout_ms = 30000
interval_ms = 5000
frequency_ms = 10000
[datastore]
path = "data"
[blobstore]
path = "blobs"
[context]
migration_v2 = true
[runtime.limits]
[dag_compaction]
enabled = true
"""
)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sync.interval_ms": 200},
        {"discovery.rendezvous.discovery_rpm": 2},  # an integer where init wrote a float
        {"discovery.rendezvous.discovery_rpm": 2.5},
        {"bootstrap.nodes": ["/ip4/1.2.3.4/tcp/1/p2p/x"]},  # init's array is empty: any items
        {"server.listen": []},
        {"server.websocket": {"ping_interval_secs": 7}},
        {"runtime.limits.max_module_size": 1},  # under a table init wrote empty: cannot be checked
        {"runtime.limits": {"anything": {"nested": "yes"}}},
        {"runtime.limits.a.b.c": [1, "x"]},
        {"dag_compaction.enabled": False},
    ],
)
def test_known_keys_of_the_right_type(overrides: dict[str, Any]) -> None:
    check_override_syntax(overrides)
    check_overrides(GENERATED, overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sync.intreval_ms": 200}, re.escape("config override 'sync.intreval_ms' is not a key of the config.toml "
                                              "merod init wrote (merod would ignore it); did you mean "
                                              "'sync.interval_ms'?")),
        ({"snyc.interval_ms": 200}, "did you mean 'sync.interval_ms'?"),
        ({"sync": {"intreval_ms": 200}}, "'sync.intreval_ms' is not a key .* did you mean 'sync.interval_ms'?"),
        ({"sync.colour": 1}, r"\[sync\] has frequency_ms, interval_ms, timeout_ms$"),
        ({"nothing": 1}, "its top-level keys are blobstore, bootstrap, context, dag_compaction, datastore, "),
        ({"dag_compaction.enable": False}, "did you mean 'dag_compaction.enabled'"),
        ({"server.embedded_auth.jwt.access_token_expiry": 1}, "only for auth='embedded'"),
        ({"sync.interval_ms": "200"}, "'200' is a string, but merod init wrote an integer there; give an integer, "
                                      r"e\.g\. \{'sync\.interval_ms': 5000\}"),
        ({"sync.interval_ms": 200.0}, "200.0 is a float, but merod init wrote an integer"),
        ({"sync.interval_ms": True}, "True is a boolean, but merod init wrote an integer"),
        ({"discovery.mdns": 0}, "0 is an integer, but merod init wrote a boolean"),
        ({"discovery.rendezvous.discovery_rpm": "1"}, "'1' is a string, but merod init wrote a float"),
        ({"server.listen": "/ip4/127.0.0.1/tcp/1"}, "is a string, but merod init wrote an array of strings"),
        ({"server.listen": [1]}, r"\[1\] is an array of integers, but merod init wrote an array of strings there; "
                                 "give an array of strings$"),
        ({"sync": 1}, "1 is an integer, but merod init wrote a table there; give a table$"),
        ({"runtime.limits": 1}, "1 is an integer, but merod init wrote a table"),
        ({"sync.interval_ms.fast": 1}, "'sync.interval_ms' is an integer in the config.toml merod init wrote, not a "
                                       "table"),
    ],
)
def test_unknown_keys_and_wrong_types(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_overrides(GENERATED, overrides)


def test_compose_merges_a_dict_and_writes_an_integer_for_a_float_as_a_float() -> None:
    config = compose(
        GENERATED, namespace="ns", bootstrap=[], user_path=None,
        overrides={"sync": {"interval_ms": 200}, "discovery.rendezvous.discovery_rpm": 2},
    )
    assert config["sync"] == {"timeout_ms": 30000, "interval_ms": 200, "frequency_ms": 1000}
    rpm = config["discovery"]["rendezvous"]["discovery_rpm"]
    assert (rpm, type(rpm)) == (2.0, float)


def test_compose_checks_before_it_writes_anything() -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'sync\.interval_ms'"):
        compose(GENERATED, namespace="ns", bootstrap=[], user_path=None, overrides={"sync.intreval_ms": 1})


# -- the layers of compose ------------------------------------------------------------------------------
def test_compose_sets_the_e2e_defaults_and_the_clusters_peers_and_keeps_the_rest_of_init() -> None:
    before = repr(EMBEDDED_INIT)
    config = compose(EMBEDDED_INIT, namespace="/meronodes/run-c1", bootstrap=PEERS, user_path=None, overrides={})
    assert config["discovery"]["rendezvous"]["namespace"] == "/meronodes/run-c1"  # its own, not the devnet's
    assert config["discovery"]["mdns"] is False
    assert {key: config["sync"][key] for key in ("timeout_ms", "interval_ms", "frequency_ms")} == {
        "timeout_ms": 30000, "interval_ms": 500, "frequency_ms": 1000,
    }
    assert config["bootstrap"]["nodes"] == PEERS  # the cluster's peers, never the public ones init wrote
    for key in ("identity", "swarm", "server", "dag_compaction", "datastore"):
        assert config[key] == EMBEDDED_INIT[key], key
    assert config["sync"]["session_deadline_ms"] == EMBEDDED_INIT["sync"]["session_deadline_ms"]
    assert repr(EMBEDDED_INIT) == before  # init's own config is left as it was


def custom_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(tomli_w.dumps(data))
    return path


# a user's config.toml written for another node: its own identity, ports, peers and auth
USER_FILE = {
    "identity": {"peer_id": "12D3KooWnotmine", "keypair": "theirs"},
    "swarm": {"listen": ["/ip4/127.0.0.1/tcp/1"]},
    "server": {"listen": ["/ip4/127.0.0.1/tcp/2"], "auth_mode": "proxy", "admin": {"enabled": False}},
    "bootstrap": {"nodes": ["/ip4/10.0.0.1/tcp/3/p2p/12D3KooWnotmine"]},
    "discovery": {"mdns": True, "rendezvous": {"namespace": "mine"}},
    "sync": {"interval_ms": 777, "frequency_ms": 888},
    "datastore": {"path": "elsewhere"}, "blobstore": {"path": "blobs"}, "context": {},
}


def test_a_user_file_beats_the_e2e_defaults_but_not_identity_ports_auth_peers_or_overrides(tmp_path: Path) -> None:
    config = compose(
        EMBEDDED_INIT, namespace="ns", bootstrap=PEERS, user_path=custom_file(tmp_path, USER_FILE),
        overrides={"sync.frequency_ms": 999},
    )
    # the file's choices win over the E2E defaults and over init
    assert config["sync"]["interval_ms"] == 777
    assert config["discovery"]["mdns"] is True
    assert config["discovery"]["rendezvous"]["namespace"] == "mine"
    assert config["server"]["admin"] == {"enabled": False}
    assert config["datastore"] == {"path": "elsewhere"}
    # what this node's own init decided stands: its keypair, ports and admin account
    assert config["identity"] == EMBEDDED_INIT["identity"]
    assert config["swarm"]["listen"] == EMBEDDED_INIT["swarm"]["listen"]
    assert config["server"]["listen"] == EMBEDDED_INIT["server"]["listen"]
    assert config["server"]["auth_mode"] == "embedded"
    assert config["server"]["embedded_auth"] == EMBEDDED_INIT["server"]["embedded_auth"]
    assert config["bootstrap"]["nodes"] == PEERS
    assert config["sync"]["frequency_ms"] == 999  # overrides beat the file
    # a table the file leaves out is merged, not dropped
    assert config["server"]["jsonrpc"] == EMBEDDED_INIT["server"]["jsonrpc"]


def test_a_user_file_without_the_sections_init_writes_is_refused(tmp_path: Path) -> None:
    path = custom_file(tmp_path, {"sync": {"interval_ms": 1}})
    with pytest.raises(ConfigurationError) as raised:
        compose(EMBEDDED_INIT, namespace="ns", bootstrap=[], user_path=path, overrides={})
    assert str(raised.value) == (
        f"custom config {path} lacks required section(s) [swarm], [server], [datastore], [blobstore], [context]; "
        "start from a config.toml written by `merod init`"
    )


def test_overrides_set_nested_keys_merge_tables_and_may_fill_a_table_init_wrote_empty() -> None:
    config = compose(
        GENERATED, namespace="ns", bootstrap=[], user_path=None,
        overrides={
            "server.websocket": {"ping_interval_secs": 7},
            "discovery.rendezvous.namespace": "override",  # beats the E2E default
            "runtime.limits.max_module_size": 1,
        },
    )
    assert config["server"]["websocket"] == {"enabled": True, "ping_interval_secs": 7}
    assert config["discovery"]["rendezvous"]["namespace"] == "override"
    assert config["runtime"]["limits"] == {"max_module_size": 1}


def test_overrides_of_the_bootstrap_peers_win() -> None:
    config = compose(GENERATED, namespace="ns", bootstrap=PEERS, user_path=None,
                     overrides={"bootstrap.nodes": PEERS[:1]})
    assert config["bootstrap"]["nodes"] == PEERS[:1]


def test_an_override_value_is_copied_not_shared() -> None:
    peers = list(PEERS)
    config = compose(GENERATED, namespace="ns", bootstrap=[], user_path=None, overrides={"bootstrap.nodes": peers})
    peers.append("/ip4/127.0.0.1/tcp/9/p2p/late")
    assert config["bootstrap"]["nodes"] == PEERS


# -- TOML on disk ---------------------------------------------------------------------------------------
def test_write_then_read_gives_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old = true\n")
    path.chmod(0o644)
    config = compose(EMBEDDED_INIT, namespace="ns", bootstrap=PEERS, user_path=None, overrides={})
    write_toml(path, config)
    assert read_toml(path, what="config") == config
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # like merod's own write: it holds the keypair
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old = true\n")
    with pytest.raises(TypeError):
        write_toml(path, {"bad": object()})
    assert path.read_text() == "old = true\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_every_toml_type_survives_a_round_trip() -> None:
    data = {
        "string": "é \"quoted\"", "integer": -7, "float": 0.5, "boolean": False,
        "date-time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "date": date(2026, 1, 2),
        "time": time(3, 4, 5), "array": [1, 2], "nested": {"table": {"key": ["a", "b"]}}, "empty": {},
    }
    assert parse_toml(dump_toml(data).decode("utf-8")) == data


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        (b"[sync]\ninterval_ms = = 200\n", "is not valid TOML: Invalid value (at line 2, column 15)"),
        (b"key = \"\xff\"\n", "is not valid TOML: not UTF-8 text"),
    ],
)
def test_read_toml_names_the_file_and_the_problem(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "custom.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError) as raised:
        read_toml(path, what="custom config")
    assert str(raised.value) == f"custom config {path} {problem}"


def test_read_toml_of_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        read_toml(tmp_path, what="custom config")
    assert str(raised.value) == f"custom config {tmp_path} cannot be read (Is a directory)"


# -- dotted keys and TOML types ---------------------------------------------------------------------------
def test_dotted_keys() -> None:
    data: dict[str, Any] = {"sync": {"interval_ms": 1}}
    assert get_dotted(data, "sync.interval_ms") == 1
    assert get_dotted(data, "sync.missing") is None
    assert get_dotted(data, "sync.interval_ms.deeper") is None
    set_dotted(data, "a.b.c", 2)
    assert data["a"] == {"b": {"c": 2}}
    not_a_table = "config override 'sync.interval_ms.x': 'interval_ms' is not a table"
    with pytest.raises(ConfigurationError, match=re.escape(not_a_table)):
        set_dotted(data, "sync.interval_ms.x", 3)
    with pytest.raises(ConfigurationError, match="is not a dotted key"):
        set_dotted(data, "sync..x", 3)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "boolean"),  # a bool is an int in Python, not in TOML
        (1, "integer"), (1.5, "float"), (Decimal("1.5"), "float"), ("x", "string"),
        (datetime(2026, 1, 1, 0, 0), "date-time"),  # a datetime is a date in Python
        (date(2026, 1, 1), "date"), (time(1, 2), "time"),
        ([1], "array"), ((1,), "array"), ({"a": 1}, "table"),
        (None, None), (Path("/x"), None), ({1, 2}, None), (b"x", None),
    ],
)
def test_toml_type(value: object, kind: str | None) -> None:
    assert toml_type(value) == kind
