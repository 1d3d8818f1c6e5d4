"""spec.py: what a test asks for (`node_cluster(...)`, the `nodes` marker), every argument checked
before anything starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes.config import settings_from
from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.spec import ClusterSpec, make_spec

# the defaults of every option, with --node-count=4 and --node-log-level=warn
SETTINGS = dataclasses.replace(settings_from({}), count=4, log_level="warn")
# the sections a user's config.toml must have (what `merod init` writes)
USER_CONFIG = "[swarm]\n[server]\n[sync]\ninterval_ms = 1\n[datastore]\n[blobstore]\n[context]\n"


@pytest.fixture
def user_config(tmp_path: Path) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(USER_CONFIG)
    return path


def test_the_options_fill_in_what_a_test_leaves_out() -> None:
    names = ("node1", "node2", "node3", "node4")
    assert make_spec(SETTINGS, {}) == ClusterSpec(
        count=4, auth=None, config={}, config_path=(), log_level="warn", names=names,
        topology="full", wiring=tuple(tuple(other for other in names if other != name) for name in names),
    )
    assert make_spec(SETTINGS, {"count": None, "log_level": None}) == make_spec(SETTINGS, {})


def test_the_arguments_of_a_test_beat_the_options() -> None:
    spec = make_spec(SETTINGS, {"count": 2, "auth": "embedded", "log_level": " debug ", "config": {"sync.x": 1}})
    assert (spec.count, spec.names, spec.auth, spec.log_level) == (2, ("node1", "node2"), "embedded", "debug")
    assert spec.config == {"sync.x": 1}


def test_a_list_of_names_alone_sets_the_count() -> None:
    spec = make_spec(SETTINGS, {"names": ["alice", "bob"]})
    assert (spec.count, spec.names) == (2, ("alice", "bob"))
    assert make_spec(SETTINGS, {"names": ["a", "b"], "count": 2}).count == 2


@pytest.mark.parametrize("auth", [None, "embedded", "proxy"])
def test_auth_modes(auth: str | None) -> None:
    assert make_spec(SETTINGS, {"auth": auth}).auth == auth


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"colour": "red", "count": 1}, "unknown argument(s) colour; node_cluster and the nodes marker take count, "
                                        "auth, config, config_path, log_level, names"),
        ({"count": 0}, "count must be a positive integer, got 0"),
        ({"count": -1}, "count must be a positive integer, got -1"),
        ({"count": True}, "count must be a positive integer, got True"),  # a bool is no count
        ({"count": "2"}, "count must be a positive integer, got '2'"),
        ({"auth": "basic"}, "unknown auth mode 'basic'; use None, 'embedded' or 'proxy'"),
        ({"count": 3, "names": ["a", "b"]}, "names must be 3 distinct names, one per node (count=3), got 2"),
        ({"names": "alice"}, "names must be a non-empty list of node names"),
        ({"log_level": "loud"}, "log_level: log level 'loud' is not RUST_LOG syntax"),
        ({"log_level": ""}, "log_level: log level '' is empty"),
        ({"log_level": 3}, "log_level must be a string (RUST_LOG syntax), got 3"),
        ({"config": []}, "config must be a dict of dotted keys, e.g. {'sync.interval_ms': 200}, got []"),
        ({"config": {1: 2}}, "config must be a dict of dotted keys"),
        ({"config": {"a..b": 1}}, "config override key 'a..b' is not a dotted key like 'sync.interval_ms'"),
        ({"config": {"sync. interval_ms": 1}}, "config override key 'sync. interval_ms' is not a dotted key"),
        ({"config": {"sync.interval_ms": None}}, "config override 'sync.interval_ms': None is not a TOML value; "
                                                 "give a string, number, boolean, date/time, list or dict"),
        ({"config": {"server.listen": ["/ip4/127.0.0.1/tcp/1", None]}}, "None is not a TOML value"),
        ({"config": {"x.y": Path("/a")}}, "PosixPath('/a') is not a TOML value"),
        ({"config": {"x.y": {1: 2}}}, "{1: 2} is not a TOML value"),
        ({"config": {"x.y": {"a", "b"}}}, "is not a TOML value"),
        ({"config_path": 5}, "config_path must be a path, a list of one path (or None) per node, or {name: path}, "
                             "got 5"),
        ({"config_path": [5]}, "config_path must be a path, a list of one path (or None) per node, or {name: path}: "
                               "5 is not a path"),
        ({"config_path": [None, None]}, "got 2 path(s) for 1 node(s)"),
        ({"config_path": {"node9": "x.toml"}}, "config_path names unknown node(s): node9; the nodes are node1"),
        ({"config_path": "/nonexistent/meronodes.toml"}, "custom config /nonexistent/meronodes.toml does not exist"),
    ],
)
def test_make_spec_rejects_before_anything_starts(arguments: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_spec(dataclasses.replace(SETTINGS, count=1), arguments)
    assert problem in str(raised.value)


def test_config_and_config_path_do_not_apply_to_remote_nodes(tmp_path: Path) -> None:
    remote = dataclasses.replace(SETTINGS, backend="remote", node_urls=("http://a:1",))
    for arguments in ({"config": {"sync.interval_ms": 1}}, {"config_path": tmp_path / "c.toml"}):
        with pytest.raises(ConfigurationError, match="cannot apply to remote nodes"):
            make_spec(remote, arguments)
    assert make_spec(remote, {"log_level": "debug", "count": 1}).count == 1


# -- config_path: one file per node ---------------------------------------------------------------------
def test_one_shared_config_file_applies_to_every_node(user_config: Path) -> None:
    assert make_spec(SETTINGS, {"count": 3, "config_path": str(user_config)}).config_path == (user_config,) * 3


def test_a_list_gives_each_node_its_file_or_none(user_config: Path) -> None:
    spec = make_spec(SETTINGS, {"names": ["a", "b"], "config_path": [None, user_config]})
    assert spec.config_path == (None, user_config)


def test_a_dict_names_the_nodes_that_get_a_file(user_config: Path) -> None:
    spec = make_spec(SETTINGS, {"count": 3, "config_path": {"node2": user_config}})
    assert spec.config_path == (None, user_config, None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[server]\n[sync]\n[datastore]\n[blobstore]\n[context]\n",
         "lacks required section(s) [swarm]; start from a config.toml written by `merod init`"),
        ("swarm = 1\n[sync]\n", "lacks required section(s) [swarm], [server], [datastore], [blobstore], [context]"),
        ("[sync]\ninterval_ms = = 200\n", "is not valid TOML: "),
    ],
)
def test_a_config_file_is_read_and_checked_when_the_test_asks(tmp_path: Path, text: str, problem: str) -> None:
    """Before any node is initialised: a wrong file costs no `merod init`."""
    path = tmp_path / "custom.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        make_spec(SETTINGS, {"config_path": {"node3": path}})
    assert str(raised.value).startswith(f"custom config {path} ")
    assert problem in str(raised.value)
