"""redact.py and errors.py: no JWT and no password this process knows reaches a message, a log
tail shown in a report, or the repr pytest prints for frame locals."""

from __future__ import annotations

import json
import secrets

import pytest

from pytest_meronodes import redact as redact_module
from pytest_meronodes.errors import ConfigurationError, MeronodesError, NodeError, NodeStartError, RpcError
from pytest_meronodes.redact import SecretBody, SecretText, redact, register

# the shape of the JWTs merod's embedded auth issues (header.claims.signature, base64url)
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6MTc2MDAwMDAwMH0.c2lnbmF0dXJlLXBhcnQ_-x"


@pytest.fixture(autouse=True)
def own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """register() is process-wide, with no way to forget a secret: each test gets an empty set."""
    monkeypatch.setattr(redact_module, "_secrets", set())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer <redacted token>"),
        (json.dumps({"access_token": JWT, "refresh_token": JWT + "x"}),
         '{"access_token": "<redacted token>", "refresh_token": "<redacted token>"}'),
        (f"{JWT}\n{JWT}", "<redacted token>\n<redacted token>"),
    ],
)
def test_jwts_are_hidden_wherever_they_are(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "eyJhbGciOiJIUzI1NiJ9 alone is no token",  # a header without claims and signature
        "eyJ.abc.def",  # too short to be a token
        "version 0.11.0-rc.25 (build 0.11.0-rc.25-19-g051f0848e)",
        "peer 12D3KooWR5V4zmisVtVdGE6i8jfFwtgRNq5t8eDGxfckKuhXu7Eh",
    ],
)
def test_what_is_no_token_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_registered_secret_is_hidden_from_then_on() -> None:
    password = f"pw-{secrets.token_hex(4)}"
    assert redact(f"login {password}") == f"login {password}"
    register(password)
    assert redact(f"login {password}; again {password}") == "login <redacted>; again <redacted>"


def test_the_longest_secret_is_hidden_first() -> None:
    """A password that contains another secret is hidden whole, not with its tail showing."""
    short = secrets.token_hex(3)
    register(short)
    register(f"{short}-and-more")
    assert redact(f"[{short}-and-more] [{short}]") == "[<redacted>] [<redacted>]"


def test_too_short_a_secret_is_not_registered() -> None:
    """A 3-character 'secret' would blank out every occurrence of those letters in every log."""
    register("abc")
    assert redact("abc") == "abc"


def test_secret_text_is_the_string_but_its_repr_hides_it() -> None:
    password = SecretText("hunter2-pw")
    assert password == "hunter2-pw"
    assert f"{password}\n".encode() == b"hunter2-pw\n"  # what goes to merod's stdin
    assert repr(password) == "'<redacted>'"
    assert "hunter2-pw" not in repr({"password": password})  # pytest -l prints locals with repr


def test_secret_body_is_sent_whole_but_shown_by_its_keys_only() -> None:
    body = SecretBody(username="admin", password="hunter2-pw")
    assert json.loads(json.dumps(body)) == {"username": "admin", "password": "hunter2-pw"}
    assert repr(body) == "<request body with secrets: username, password>"


# -- errors ---------------------------------------------------------------------------------------------------
def test_every_error_message_is_redacted() -> None:
    password = f"pw-{secrets.token_hex(4)}"
    register(password)
    for error in (
        MeronodesError(f"token {JWT}"),
        ConfigurationError(f"password {password} refused"),
        NodeError("node1", f"answered {JWT}", exit_code=1, log_tail=f"INFO got token {JWT}\nlogin {password}"),
        NodeStartError("node1", "auth failed", log_tail=f"password={password}"),
        RpcError("node1", "get", {"type": "FunctionCallError", "data": f"echo {JWT}"}, hint=f"try {password}"),
    ):
        assert JWT not in str(error)
        assert password not in str(error)
        assert "<redacted" in str(error)


def test_a_node_error_keeps_its_parts_and_shows_them_redacted() -> None:
    error = NodeError("node1", "exited", exit_code=3, log_tail=f"ERROR merod: token {JWT}\n")
    assert str(error) == (
        "node 'node1': exited (exit code 3)\n--- last lines of node1's log ---\nERROR merod: token <redacted token>"
    )
    assert (error.node, error.reason, error.exit_code) == ("node1", "exited", 3)
