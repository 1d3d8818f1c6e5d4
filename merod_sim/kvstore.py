"""The built-in application: Calimero core's `apps/kv-store` (at the recorded commit), whatever
wasm file was installed (the simulator has no wasm engine).

It answers as that app does inside merod: the calimero-sdk's argument decoding (serde_json with
`deny_unknown_fields` over the JSON merod re-serializes), its guest panics (with the source
location the app's wasm reports), app errors returned as merod's FunctionCallError text, and the
runtime's method-name checks. Values are strings (`UnorderedMap<String, LwwRegister<String>>`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import serdejson
from .serdejson import BORROWED_STR, STRING, SerdeError, Struct, rust_debug_char, rust_debug_str

SOURCE_FILE = "apps/kv-store/src/lib.rs"
MAX_METHOD_NAME_LENGTH = 256  # the runtime's VMLimits::max_method_name_length


class GuestError(Exception):
    """A call that failed inside the runtime: merod's FunctionCallError text."""


@dataclass(frozen=True)
class Method:
    line: int  # where `pub fn <name>` is in lib.rs: the guest reports panics there (column 12)
    args: tuple[tuple[str, str], ...] = ()  # (name, Rust type as the sdk's hint spells it)
    writes: bool = False


# `&str` arguments are borrowed from the input: the sdk's hint prints the sanitized type `& str`
METHODS: dict[str, Method] = {
    "init": Method(35, writes=True),
    "set": Method(41, (("key", "String"), ("value", "String")), writes=True),
    "update_if_exists": Method(66, (("key", "String"), ("value", "String")), writes=True),
    "get_or_insert": Method(88, (("key", "String"), ("value", "String")), writes=True),
    "entries": Method(107),
    "len": Method(117),
    "get": Method(123, (("key", "& str"),)),
    "get_unchecked": Method(129, (("key", "& str"),)),
    "get_result": Method(136, (("key", "& str"),)),
    "remove": Method(146, (("key", "& str"),), writes=True),
    "clear": Method(159, writes=True),
}
GET_UNCHECKED_EXPECT = (133, 33)  # `.expect("key not found")` in get_unchecked


def _panic(message: str, line: int, column: int = 12) -> GuestError:
    return GuestError(f"guest panicked: {message} at {SOURCE_FILE}:{line}:{column}")


def check_method_name(name: str) -> None:
    """The runtime's validate_method_name (the server already refused empty and long names)."""
    if not name:
        raise GuestError("method name is empty")
    if len(name.encode()) > MAX_METHOD_NAME_LENGTH:
        raise GuestError(f"method name too long: {len(name.encode())} bytes (max: {MAX_METHOD_NAME_LENGTH})")
    for position, char in enumerate(name):
        if not (char.isascii() and (char.isalnum() or char == "_")):
            raise GuestError(f"method name contains invalid character at position {position}: {rust_debug_char(char)}")


def serialize_args(args: Any) -> bytes:
    """What merod hands the guest: `serde_json::to_vec(&args_json)` (compact, keys in order)."""
    return json.dumps(args, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_args(name: str, method: Method, payload: bytes) -> dict[str, Any]:
    """The sdk's generated argument decoding for `name`."""
    if not method.args:
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            value = None
        if isinstance(value, dict) and value:
            # the guest parses into its own serde_json map, whose keys come out sorted
            fields = ", ".join(rust_debug_str(key) for key in sorted(value))
            raise _panic(f"{name}: takes no arguments, but the call sent unknown field(s): [{fields}]", method.line)
        return {}
    hint = "{ " + ", ".join(f"{arg}: {rust_type}" for arg, rust_type in method.args) + " }"
    kind = Struct(
        "CalimeroInput",
        tuple((arg, BORROWED_STR if rust_type == "& str" else STRING) for arg, rust_type in method.args),
        deny_unknown=True,
    )
    try:
        node = serdejson.parse(payload)
        return serdejson.Deserializer().struct(node, kind)
    except SerdeError as error:
        line, column = serdejson.position(payload, error.offset or 0)
        debug = f"Error({rust_debug_str(error.message)}, line: {line}, column: {column})"
        raise _panic(f"{name}: failed to deserialize arguments (expected {hint}): {debug}", method.line) from None


# The state the app sees: read a key, and the writes it makes (None removes).
Reader = Callable[[str], "str | None"]


@dataclass
class Outcome:
    output: Any  # the method's return value, as merod answers it in `output`
    writes: dict[str, str | None]


def call(name: str, args_json: Any, read: Reader, live: Callable[[], Mapping[str, str]]) -> Outcome:
    """Run one method of the kv-store against the state; GuestError when merod would answer a
    FunctionCallError."""
    check_method_name(name)
    method = METHODS.get(name)
    if method is None:
        raise GuestError(f"method {rust_debug_str(name)} not found")
    args = decode_args(name, method, serialize_args(args_json))
    key: str = args.get("key") or ""
    value: str = args.get("value") or ""
    if name == "init":
        raise _panic("Cannot initialize over already existing state.", method.line)
    if name == "set":
        return Outcome(None, {key: value})
    if name == "update_if_exists":
        if read(key) is None:
            return Outcome(False, {})
        return Outcome(True, {key: value})
    if name == "get_or_insert":
        current = read(key)
        if current is not None:
            return Outcome(current, {})
        return Outcome(value, {key: value})
    if name == "entries":
        return Outcome(dict(sorted(live().items())), {})
    if name == "len":
        return Outcome(len(live()), {})
    if name == "get":
        return Outcome(read(key), {})
    if name == "get_unchecked":
        current = read(key)
        if current is None:
            raise _panic("key not found", *GET_UNCHECKED_EXPECT)
        return Outcome(current, {})
    if name == "get_result":
        current = read(key)
        if current is None:
            # the app's Err value, serialized (json! builds a map: its keys come out sorted), and
            # reported by the runtime as its bytes
            returned = json.dumps({"data": key, "kind": "NotFound"}, separators=(",", ":"), ensure_ascii=False)
            raise GuestError(
                "the method call returned an error: [" + ", ".join(str(b) for b in returned.encode()) + "]"
            )
        return Outcome(current, {})
    if name == "remove":
        current = read(key)
        return Outcome(current, {} if current is None else {key: None})
    # clear
    return Outcome(None, {existing: None for existing in live()})
