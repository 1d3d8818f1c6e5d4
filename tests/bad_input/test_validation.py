"""The checks behind the bad-input messages, as pure functions: fast, no pytest session, no node."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes import validation
from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.node_config import check_override_syntax, check_overrides, compose
from pytest_meronodes.spec import make_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# -- RUST_LOG ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["info", "INFO", " debug ", "off", "info,calimero_node=debug", "calimero_node::sync=trace,libp2p=warn"]
)
def test_log_level_accepts_rust_log_directives(text: str) -> None:
    assert validation.log_level(text) == text.strip()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("inf", "'inf' is not a level"),  # merod would read it as a target and log nothing
        ("calimero_node", "'calimero_node' is not a level"),
        ("info,", "has an empty directive"),
        ("calimero-node=debug", "'calimero-node' is not a target"),
        ("=debug", "'' is not a target"),
        ("calimero_node=loud", "'loud' is not a level"),
        ("a[span]=info", "'a[span]' is not a target"),
    ],
)
def test_log_level_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        validation.log_level(text)


# -- Docker limits ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("512m", 512 * 2**20), ("512M", 512 * 2**20), ("512mb", 512 * 2**20), ("1g", 2**30), ("1.5g", int(1.5 * 2**30)),
     ("6m", 6 * 2**20), ("6291456", 6291456), ("7000k", 7000 * 1024)],
)
def test_memory_in_docker_format(text: str, expected: int) -> None:
    assert validation.memory_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [("1t", "not in Docker's format"), ("lots", "not in Docker's format"), ("-512m", "not in Docker's format"),
     ("512 mib", "not in Docker's format"), ("5m", "below Docker's minimum of 6m"), ("0", "below Docker's minimum"),
     ("6291455b", "below Docker's minimum")],
)
def test_memory_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validation.memory_bytes(text)


@pytest.mark.parametrize("value", [0.0, 0.01, 0.5, 2.0])
def test_node_cpus_accepts(value: float) -> None:
    assert validation.node_cpus(value) == value


@pytest.mark.parametrize("value", [-1.0, 0.001, math.nan, math.inf])
def test_node_cpus_rejects(value: float) -> None:
    with pytest.raises(ValueError, match="node cpus must be 0"):
        validation.node_cpus(value)


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, -math.inf, 86400.5])
def test_startup_timeout_rejects(value: float) -> None:
    with pytest.raises(ValueError, match="startup timeout must be positive and finite"):
        validation.startup_timeout(value)


# -- remote node URLs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:2528", "http://127.0.0.1:2528"),
        ("http://127.0.0.1:2528/", "http://127.0.0.1:2528"),
        ("https://node.example.com", "https://node.example.com"),
        ("HTTP://node:1", "http://node:1"),
        ("http://[::1]:2528", "http://[::1]:2528"),
    ],
)
def test_node_url_accepts_a_root_url(url: str, expected: str) -> None:
    assert validation.node_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:2528", "must start with http:// or https://"),
        ("127.0.0.1:2528", "must start with http:// or https://"),
        ("ftp://host:1", "must start with http:// or https://"),
        ("http:/host:1", "must start with http:// or https://"),
        ("http://", "names no host"),
        ("http://:2528", "names no host"),
        ("http://host:0", "invalid port"),
        ("http://host:65536", "invalid port"),
        ("http://host:port", "invalid port"),
        ("http://host:", "invalid port"),
        ("http://host:1/admin", "has a path"),
        ("http://host:1?", "has a query"),
        ("http://host:1/?a=b", "has a query"),
        ("http://host:1#x", "has a fragment"),
        ("http://host :1", "contains whitespace"),
        ("http://[::1:2528", "is not a URL"),
    ],
)
def test_node_url_rejects(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validation.node_url(url)


def test_node_url_never_shows_credentials() -> None:
    with pytest.raises(ValueError, match="carries credentials") as caught:
        validation.node_url("https://admin:pw-1234@node:1")
    assert "pw-1234" not in str(caught.value)
    assert "admin" not in str(caught.value)


def test_node_urls_are_distinct() -> None:
    assert validation.node_urls(["http://a:1", "http://b:1"]) == ("http://a:1", "http://b:1")
    with pytest.raises(ValueError, match="given twice"):
        validation.node_urls(["http://a:1", "http://a:1/"])


# -- the base directory ---------------------------------------------------------------------------------
def test_base_dir_may_exist_or_be_created(tmp_path: Path) -> None:
    assert validation.base_dir_problem(tmp_path) is None
    assert validation.base_dir_problem(tmp_path / "new" / "deeper") is None
    assert not (tmp_path / "new").exists()  # checked, not created
    assert [p.name for p in tmp_path.iterdir()] == []  # the probe is gone


def test_base_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert validation.base_dir_problem(tmp_path / "file") == (
        f"node base dir '{tmp_path}/file' exists but is not a writable directory (not a directory); give a directory "
        "you can write to, or leave it unset for the default"
    )
    problem = validation.base_dir_problem(tmp_path / "file" / "sub")
    assert problem is not None
    assert problem.startswith(f"node base dir '{tmp_path}/file/sub' cannot be created: '{tmp_path}/file' is not a")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0555 directory")
def test_base_dir_without_write_permission(tmp_path: Path) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o555)
    try:
        assert "exists but is not a writable directory (Permission denied)" in (
            validation.base_dir_problem(directory) or ""
        )
    finally:
        directory.chmod(0o755)


# -- names and count -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "count", "expected"),
    [
        (["a", "b"], None, ("a", "b")),
        (("a", "b", "c"), None, ("a", "b", "c")),
        (["a", "b"], 2, ("a", "b")),
        (["node-1", "Node_2", "3"], None, ("node-1", "Node_2", "3")),
        (["x" * 63], None, ("x" * 63,)),
    ],
)
def test_node_names(names: Any, count: Any, expected: tuple[str, ...]) -> None:
    assert validation.node_names(names, count) == expected


@pytest.mark.parametrize(
    ("names", "count", "problem"),
    [
        ("alice", None, "non-empty list"),
        ([], None, "non-empty list"),
        ({"a", "b"}, None, "non-empty list"),
        (["a", "b"], 3, r"one per node \(count=3\), got 2"),
        (["a"], 2, "names must be 2 distinct names"),
        (["a", "a"], None, "'a' repeats 'a'"),
        (["a", "A"], None, "'A' repeats 'a'"),
        (["-a"], None, "'-a' is not such a name"),
        (["_a"], None, "'_a' is not such a name"),
        (["a b"], None, "'a b' is not such a name"),
        (["é"], None, "'é' is not such a name"),
        ([""], None, "'' is not such a name"),
        ([5], None, "5 is not such a name"),
        (["x" * 64], None, "is not such a name"),
    ],
)
def test_node_names_reject(names: Any, count: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validation.node_names(names, count)


SETTINGS = MeronodesConfig(
    backend="binary", merod_binary="sim", count=4, log_level="info", startup_timeout=60.0,
    port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
    merod_image="", auth_image="", traefik_image="", traefik_binary="traefik", auth_service="sim",
    force_pull=False, docker_home="volume", node_cpus=0.0, node_memory="", node_urls=(), node_username="",
    node_password="",
)


def test_a_list_of_names_alone_sets_the_count() -> None:
    spec = make_spec(SETTINGS, {"names": ["alice", "bob"]})
    assert (spec.count, spec.names) == (2, ("alice", "bob"))
    assert make_spec(SETTINGS, {"names": ["a", "b"], "count": 2}).count == 2
    assert make_spec(SETTINGS, {"count": None}).count == 4  # None: the --node-count default
    assert make_spec(SETTINGS, {}).names == ("node1", "node2", "node3", "node4")


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"count": 3, "names": ["a", "b"]}, r"names must be 3 distinct names, one per node \(count=3\), got 2"),
        ({"log_level": "loud"}, "log_level: log level 'loud' is not RUST_LOG syntax"),
        ({"log_level": ""}, "log_level: log level '' is empty"),
        ({"log_level": 3}, "log_level must be a string"),
        ({"config": []}, "config must be a dict of dotted keys"),
        ({"config": {"a..b": 1}}, "is not a dotted key"),
        ({"config": {"sync.interval_ms": None}}, "None is not a TOML value"),
        ({"config": {"server.listen": ["/ip4/127.0.0.1/tcp/1", None]}}, "None is not a TOML value"),
        ({"config": {"x.y": Path("/a")}}, "is not a TOML value"),
        ({"config": {"x.y": {1: 2}}}, "is not a TOML value"),
        ({"config_path": 5}, "config_path must be a path"),
        ({"config_path": [None, None]}, "got 2 path"),
        ({"config_path": {"node9": "x.toml"}}, "config_path names unknown node"),
        ({"config_path": "/nonexistent/meronodes.toml"}, "does not exist"),
    ],
)
def test_make_spec_rejects_before_anything_starts(arguments: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        make_spec(dataclasses.replace(SETTINGS, count=1), arguments)


def test_config_and_config_path_do_not_apply_to_remote_nodes(tmp_path: Path) -> None:
    remote = dataclasses.replace(SETTINGS, backend="remote", node_urls=("http://a:1",))
    for arguments in ({"config": {"sync.interval_ms": 1}}, {"config_path": tmp_path / "c.toml"}):
        with pytest.raises(ConfigurationError, match="cannot apply to remote nodes"):
            make_spec(remote, arguments)
    assert make_spec(remote, {"log_level": "debug", "count": 1}).count == 1


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
