"""The simulator against the recordings of a real merod (tests/recordings/, copied from the shared
recordings: merod 0.11.0-rc.25, build 051f0848e).

Every recorded HTTP exchange is replayed against simulator nodes set up as the recording's were
(two nodes wired by bootstrap peers for the app flow; one embedded-auth node for auth). Ids,
tokens, invitations and URLs differ from run to run, so each recorded response value is mapped
to the live value at the same JSON path, and later requests get the live values. Compared:
the status, the names of the headers the recordings keep (content type and auth headers), the
content type's media type, the JSON shape (keys, value types and string formats such as 64 hex
or base58 of 32 bytes, recursively; not the values), and error texts word for word. A recorded
`status: null` (merod did not answer in time) must not be answered within a short timeout
either. A step whose outcome depends on asynchronous sync is retried for a bounded time.

Also checked: the JWT's header and claims, the config.toml init writes (sections, keys, value
types) and the exit codes and first message lines of the recorded command lines."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.simhelpers import (
    SIM_COMMAND,
    Merod,
    NodeProcess,
    clean_env,
    jwt_parts,
    read_toml,
    token_request,
    write_fake_app,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
APP_FLOW = RECORDINGS / "app-flow-no-auth.jsonl"
AUTH_FLOW = RECORDINGS / "auth-embedded.jsonl"
KEPT_HEADERS = {"content-type", "x-auth-error", "x-auth-user", "x-auth-permissions"}
NO_ANSWER_TIMEOUT = 2.0  # a recorded non-answer: the simulator must not answer within this
RETRY_TIMEOUT = 15.0
# Steps whose outcome depends on asynchronous sync between the two nodes: retried until they
# match (the recording itself retried step 20 "until 200").
RETRY_STEPS = {
    20,  # context join once node2 is in the namespace: it waits for the namespace's contexts
    23,  # node2's context after its first sync (before it, merod shows no DAG heads)
    25,  # the value written on node1, read on node2
    31,  # node2's sync status once initialised
    34,  # node2's state hash after sync
}
ADMIN = "meronodes-admin"
ADMIN_PASSWORD = "right-password-123"
HEX64 = re.compile(r"[0-9a-f]{64}")
B58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
POSITION = re.compile(r"at line \d+ column \d+")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _b58_bytes(text: str) -> int:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = 0
    for char in text:
        number = number * 58 + alphabet.index(char)
    return len(text) - len(text.lstrip("1")) + (number.bit_length() + 7) // 8


def string_format(text: str) -> str:
    if HEX64.fullmatch(text):
        return "hex64"
    if B58.fullmatch(text) and _b58_bytes(text) == 32:
        return "base58/32"
    if UUID.fullmatch(text):
        return "uuid"
    if text.count(".") == 2 and text.startswith("eyJ"):
        return "jwt"
    return "str"


def shape(value: Any) -> Any:
    """Keys and value types, recursively; byte arrays (lists of ints) by their length."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        if value and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return f"bytes[{len(value)}]"
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return string_format(str(value))


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where two shapes differ, one line each (for a readable failure)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                found.append(f"{path}.{key}: missing (expected {expected[key]!r})")
            elif key not in expected:
                found.append(f"{path}.{key}: unexpected key ({actual[key]!r})")
            else:
                found.extend(differences(expected[key], actual[key], f"{path}.{key}"))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items expected, {len(actual)} found"]
        found = []
        for index, (left, right) in enumerate(zip(expected, actual)):
            found.extend(differences(left, right, f"{path}[{index}]"))
        return found
    return [] if expected == actual else [f"{path}: expected {expected!r}, found {actual!r}"]


def error_texts(body: Any) -> list[str]:
    """The error messages of a response: a plain-text body, `error` strings, JSON-RPC error data."""
    if isinstance(body, str):
        return [body] if body else []
    if not isinstance(body, dict):
        return []
    error = body.get("error")
    if isinstance(error, str):
        return [error]
    if isinstance(error, dict) and isinstance(error.get("data"), str):
        return [error["data"]]
    return []


@dataclass
class Substitutions:
    """Recorded values -> the live values seen at the same place in the same response."""

    values: dict[Any, Any] = field(default_factory=dict)
    substrings: dict[str, str] = field(default_factory=dict)  # for paths, URLs, Host headers

    @staticmethod
    def _key(value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    def learn(self, recorded: Any, live: Any) -> None:
        if isinstance(recorded, dict) and isinstance(live, dict):
            for key, value in recorded.items():
                if key in live:
                    self.learn(value, live[key])
        elif isinstance(recorded, list) and isinstance(live, list):
            if recorded and all(isinstance(item, int) for item in recorded):
                if recorded != live:
                    self.values[tuple(recorded)] = live
                return
            for left, right in zip(recorded, live):
                self.learn(left, right)
        elif isinstance(recorded, str) and isinstance(live, str) and len(recorded) >= 16 and recorded != live:
            self.values[recorded] = live
            self.substrings[recorded] = live
        elif isinstance(recorded, int) and isinstance(live, int) and recorded > 10**9 and recorded != live:
            self.values[recorded] = live  # timestamps (an invitation's expiry)

    def apply(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self.apply(item) for key, item in value.items()}
        if isinstance(value, list):
            key = self._key(value)
            if value and all(isinstance(item, int) for item in value) and key in self.values:
                return list(self.values[key])
            return [self.apply(item) for item in value]
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value in self.values:
            return self.values[value]
        return value

    def apply_text(self, text: str) -> str:
        for recorded, live in sorted(self.substrings.items(), key=lambda item: -len(item[0])):
            text = text.replace(recorded, live)
        return text


@dataclass
class Replay:
    nodes: dict[str, NodeProcess]
    subs: Substitutions
    tokens: dict[str, str] = field(default_factory=dict)  # token_type -> live token

    def request(self, step: dict[str, Any], timeout: float) -> requests.Response:
        node = self.nodes[step["node"]]
        headers = {}
        for name, value in (step.get("request_headers") or {}).items():
            if value == "Bearer <token>":
                value = "Bearer not-a-jwt" if "garbage" in step["note"] else f"Bearer {self.tokens['access']}"
            headers[name] = self.subs.apply_text(value)
        body = step.get("request")
        payload = self._request_body(body) if body is not None else None
        url = node.url + self.subs.apply_text(step["path"])
        if payload is None:
            return requests.request(step["method"], url, headers=headers, timeout=timeout)
        return requests.request(step["method"], url, headers=headers, json=payload, timeout=timeout)

    def _request_body(self, body: Any) -> Any:
        body = self.subs.apply(copy.deepcopy(body))
        if isinstance(body, dict):
            for key, value in body.items():
                if isinstance(value, str) and string_format(value) == "jwt":
                    body[key] = self.tokens[jwt_parts(value)[1]["token_type"]]
                elif isinstance(value, str) and value.startswith("http://"):
                    body[key] = self.subs.apply_text(value)
            if "timestamp" in body:
                body["timestamp"] = int(time.time())
        return body


def live_body(response: requests.Response) -> Any:
    if not response.content:
        return ""
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def check_step(step: dict[str, Any], response: requests.Response, subs: Substitutions) -> list[str]:
    """Everything about one answer that differs from the recording (empty: it matches)."""
    problems = []
    if response.status_code != step["status"]:
        problems.append(f"status: expected {step['status']}, found {response.status_code}")
    recorded_headers = {name.lower() for name in step.get("response_headers") or {}}
    live_headers = {name.lower() for name in response.headers if name.lower() in KEPT_HEADERS}
    if recorded_headers != live_headers:
        problems.append(f"headers: expected {sorted(recorded_headers)}, found {sorted(live_headers)}")
    recorded_type = (step.get("response_headers") or {}).get("content-type")
    live_type = response.headers.get("content-type")
    if recorded_type and live_type and recorded_type.split(";")[0] != live_type.split(";")[0]:
        problems.append(f"content type: expected {recorded_type}, found {live_type}")
    body = live_body(response)
    problems.extend(f"body {line}" for line in differences(shape(step["response"]), shape(body)))
    for expected, found in zip(error_texts(step["response"]), error_texts(body)):
        if POSITION.sub("at line L column C", subs.apply_text(expected)) != POSITION.sub("at line L column C", found):
            problems.append(f"error text: expected {expected!r}, found {found!r}")
    return problems


def replay_step(replay: Replay, step: dict[str, Any]) -> requests.Response | None:
    """Send one recorded request and check the answer; AssertionError with a readable diff."""
    where = f"step {step['step']} ({step['note'] or 'no note'}): {step['method']} {step['path']} on {step['node']}"
    if step["status"] is None:
        try:
            response = replay.request(step, NO_ANSWER_TIMEOUT)
        except requests.Timeout:
            return None
        raise AssertionError(f"{where}\n  merod did not answer; the simulator answered {response.status_code} "
                             f"{response.text[:200]!r}")
    deadline = time.monotonic() + (RETRY_TIMEOUT if step["step"] in RETRY_STEPS else 0)
    while True:
        response = replay.request(step, timeout=10)
        problems = check_step(step, response, replay.subs)
        if not problems:
            break
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{where}\n  " + "\n  ".join(problems)
                + f"\n  recorded: {json.dumps(step['response'])[:600]}\n  live:     {response.text[:600]}"
            )
        time.sleep(0.1)
    replay.subs.learn(step["response"], live_body(response))
    return response


@pytest.fixture
def app_flow_nodes(sim: Merod) -> dict[str, NodeProcess]:
    """Two nodes wired by bootstrap peers, with the sync interval the plugin sets (500 ms)."""
    return {process.name: process for process in sim.start_mesh(["node1", "node2"], "sync.interval_ms=500")}


def test_the_app_flow_recording_replays(app_flow_nodes: dict[str, NodeProcess], tmp_path: Path) -> None:
    app = write_fake_app(tmp_path / "kv_store.wasm")
    subs = Substitutions(substrings={"/path/to/kv_store.wasm": str(app)})
    subs.values["/path/to/kv_store.wasm"] = str(app)
    replay = Replay(app_flow_nodes, subs)
    for step in load(APP_FLOW):
        response = replay_step(replay, step)
        if step["step"] == 10 and response is not None:
            # serde_json's position for a missing field: just past the object's closing brace
            sent = json.dumps(replay._request_body(step["request"])).encode()
            assert response.json()["error"].endswith(f"at line 1 column {len(sent)}"), response.text


@pytest.fixture
def auth_node(sim: Merod) -> NodeProcess:
    node = sim.init(
        "node1", "--auth-mode", "embedded", "--admin-user", ADMIN, "--admin-password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    return sim.start(node)


def test_the_embedded_auth_recording_replays(auth_node: NodeProcess) -> None:
    port = auth_node.url.rsplit(":", 1)[1]
    recorded_url = "http://127.0.0.1:29564"
    subs = Substitutions(substrings={recorded_url: auth_node.url, "localhost:29564": f"localhost:{port}"})
    replay = Replay({"node1": auth_node}, subs)
    for line in load(AUTH_FLOW):
        if "step" in line:
            replay_step(replay, line)
        elif "response_keys" in line:
            response = auth_node.post("/auth/token", json=token_request(auth_node.url, username=ADMIN,
                                                                         password=ADMIN_PASSWORD))
            assert response.status_code == line["status"], response.text
            body = response.json()
            assert body["error"] == line["error"]
            assert sorted(body["data"]) == line["response_keys"]
            replay.tokens = {"access": body["data"]["access_token"], "refresh": body["data"]["refresh_token"]}
        else:
            check_claims(line, replay.tokens)


def check_claims(recorded: dict[str, Any], tokens: dict[str, str]) -> None:
    """The JWT's header and claims: the same names, value types and formats, and the values that
    do not vary from run to run."""
    for kind in ("access", "refresh"):
        header, claims = jwt_parts(tokens[kind])
        expected = recorded[f"{kind}_claims"]
        assert header == recorded["header"]
        problems = differences(shape(expected), shape(claims))
        assert not problems, f"{kind} token claims:\n  " + "\n  ".join(problems)
        for name in ("iss", "aud", "token_type", "permissions"):
            assert claims[name] == expected[name], name
        assert list(claims) == list(expected), "the claims come in merod's order"
        assert claims["exp"] - claims["iat"] == expected["exp"] - expected["iat"]


# -- config.toml ---------------------------------------------------------------------------------
def toml_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: toml_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({type(item).__name__ for item in value}) or "list"
    return type(value).__name__


def _toml_differences(expected: Any, actual: Any) -> list[str]:
    # an empty list and a list of strings are the same type of value
    if (isinstance(expected, list) and actual == "list") or (expected == "list" and isinstance(actual, list)):
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                found.append(f"{key}: {'missing' if key not in actual else 'unexpected'}")
            else:
                found.extend(f"{key}.{line}" for line in _toml_differences(expected[key], actual[key]))
        return found
    return [] if expected == actual else [f"expected {expected}, found {actual}"]


def test_init_writes_every_recorded_section_and_key(sim: Merod) -> None:
    node = sim.init("n1", boot_nodes=None)
    sim.cli_ok("n1", "config", "bootstrap.nodes=[]")
    sim.cli_ok("n1", "config", "no.such.key=1")
    recorded = read_toml(RECORDINGS / "config-after-init.toml")
    problems = _toml_differences(toml_shape(recorded), toml_shape(node.config()))
    assert not problems, "config.toml differs from the recorded one:\n  " + "\n  ".join(problems)
    assert node.config()["discovery"]["mdns"] is False


def test_embedded_init_writes_every_recorded_section_and_key(sim: Merod) -> None:
    node = sim.init("n3", "--auth-mode", "embedded", "--admin-user", "admin", "--admin-password-stdin",
                    boot_nodes=None, stdin="secret-password\n")
    recorded = read_toml(RECORDINGS / "config-after-init-embedded-auth.toml")
    problems = _toml_differences(toml_shape(recorded), toml_shape(node.config()))
    assert not problems, "config.toml differs from the recorded one:\n  " + "\n  ".join(problems)
    assert node.config()["bootstrap"] == recorded["bootstrap"]
    assert node.config()["server"]["embedded_auth"] == recorded["server"]["embedded_auth"]


# -- command lines -------------------------------------------------------------------------------
@dataclass
class Command:
    argv: list[str]
    note: str
    output: list[str]
    exit_code: int


def recorded_commands() -> list[Command]:
    commands: list[Command] = []
    lines = (RECORDINGS / "cli.txt").read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith("$ "):
            continue
        text, _, note = line[2:].partition("  (")
        argv = list(commands[-1].argv) if text.startswith("(the same") else shlex.split(text)[1:]
        note = note.rstrip(")") if note else text.strip("()")
        output = []
        while not lines[index].startswith("exit "):
            output.append(lines[index])
            index += 1
        commands.append(Command(argv, note, output, int(lines[index].split()[1])))
    return commands


COMMANDS = recorded_commands()
# what the recording elides (`...`), a backtrace, and toml_edit's explanation of a parse error
NOT_COMPARED = re.compile(
    r"^(\.\.\.|\s+\d+: _start.*|\s+at .*|Run with .*|\s*\|.*|1 \| .*|invalid array|expected `\]`|)$"
)


def _normal(line: str) -> str:
    """A log line without colours, timestamp and trailing blanks, the peer id made generic."""
    line = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
    line = re.sub(r"^\S+Z\s+", "", line)
    return re.sub(r"12D3KooW[1-9A-HJ-NP-Za-km-z]{44}", "12D3KooW<peer id>", line)


def _run(command: Command, directory: Path) -> subprocess.CompletedProcess[str]:
    stdin = "recorded-password\n" if "password on stdin" in command.note else None
    return subprocess.run([*SIM_COMMAND, *command.argv], cwd=directory, input=stdin, capture_output=True,
                          text=True, timeout=30, env=clean_env(), check=False)


@pytest.fixture(scope="module")
def command_results(tmp_path_factory: pytest.TempPathFactory) -> list[subprocess.CompletedProcess[str]]:
    """Every command of cli.txt, in order, in one directory (they share the home `H`, as in the
    recording)."""
    directory = tmp_path_factory.mktemp("cli")
    return [_run(command, directory) for command in COMMANDS]


@pytest.mark.parametrize("position", range(len(COMMANDS)), ids=[" ".join(c.argv)[:70] for c in COMMANDS])
def test_recorded_command_lines_exit_and_speak_as_merod(
    position: int, command_results: list[subprocess.CompletedProcess[str]]
) -> None:
    """Each command of cli.txt: its exit code, and the lines that do not depend on the build
    (merod's version and help texts do)."""
    command, result = COMMANDS[position], command_results[position]
    assert result.returncode == command.exit_code, f"{command.argv}: {result.stdout}\n{result.stderr}"
    if "--version" in command.argv:
        assert result.stdout.startswith("merod 0.11.0-rc.25 (")
        assert "simulator" in result.stdout
    if "--version" in command.argv or "--help" in command.argv:
        return
    said = [_normal(line) for line in (result.stdout + result.stderr).splitlines()]
    for line in command.output:
        if NOT_COMPARED.match(line):
            continue
        assert _normal(line) in said, f"{command.argv}: {_normal(line)!r} not among:\n" + "\n".join(said)


def test_the_recordings_are_all_replayed() -> None:
    """Every line of both recordings is a step, the token line or the claims line, and the app
    flow's steps are all there: the replays above skip none."""
    app_steps = [line["step"] for line in load(APP_FLOW)]
    assert app_steps == list(range(1, len(app_steps) + 1))
    kinds = {"step" in line or "response_keys" in line or "access_claims" in line for line in load(AUTH_FLOW)}
    assert kinds == {True}
    assert set(app_steps) >= RETRY_STEPS
