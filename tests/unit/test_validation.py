"""validation.py: the checks behind the bad-input messages of options and fixture arguments, as
pure functions (each returns the usable value or raises ValueError saying what to fix)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes import validation


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


@pytest.mark.parametrize("value", [0.05, 60.0, 86400.0])
def test_startup_timeout_accepts(value: float) -> None:
    assert validation.startup_timeout(value) == value


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
