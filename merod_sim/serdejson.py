"""serde / serde_json as merod uses them, for error texts that match merod's word for word.

merod deserializes request bodies with serde_json and reports what went wrong in serde's words,
with the position serde_json had reached (`missing field `x` at line 1 column 65`). This module
parses JSON keeping every value's byte span, and deserializes it against a small description of
the Rust type, raising `SerdeError` with serde's message and serde_json's position rules:

- after a scalar (number, string, literal) that has the wrong type or an invalid value;
- at the opening bracket of an array or object of the wrong type;
- after the key of an unknown or duplicate field;
- after the closing brace of an object that lacks a field.

It also holds the other Rust-isms merod's answers are made of: base58 decoding as the `bs58`
crate reports it, and `{:?}` of strings and chars."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

from .identity import b58encode as b58encode  # re-exported: the API and tests use it from here

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(B58_ALPHABET)}
HASH_LEN = 32
MAX_HASH_STR_LEN = HASH_LEN * 138 // 100 + 1  # calimero_primitives::hash::MAX_STR_LEN (45)
BS58_BUFFER_TOO_SMALL = "buffer provided to decode base58 encoded string into was too small"


class SerdeError(Exception):
    """A serde error: the message, and where serde_json was (None when deserializing a Value)."""

    def __init__(self, message: str, offset: int | None = None, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.path = path  # serde_path_to_error's path of the failing value ("" at the root)

    def render(self, text: bytes | None) -> str:
        """`message at line L column C`, as serde_json's Display prints it."""
        if self.offset is None or text is None:
            return self.message
        line, column = position(text, self.offset)
        return f"{self.message} at line {line} column {column}"

    def render_with_path(self, text: bytes | None) -> str:
        """What axum's Json extractor says (it deserializes through serde_path_to_error)."""
        rendered = self.render(text)
        return f"{self.path}: {rendered}" if self.path else rendered


def position(text: bytes, offset: int) -> tuple[int, int]:
    """serde_json's line and column for a byte offset (the column counts the bytes before it)."""
    start_of_line = text.rfind(b"\n", 0, offset) + 1
    return text.count(b"\n", 0, start_of_line) + 1, offset - start_of_line


# -- Rust formatting ---------------------------------------------------------------------------
def _escape_char(char: str, quote: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == quote:
        return "\\" + quote
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if char == "\0":
        return "\\0"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{{{ord(char):x}}}"
    return char


def rust_debug_str(text: str) -> str:
    """`format!("{:?}", text)`."""
    return '"' + "".join(_escape_char(char, '"') for char in text) + '"'


def rust_debug_char(char: str) -> str:
    """`format!("{:?}", char)`."""
    return "'" + _escape_char(char, "'") + "'"


def rust_float(value: float) -> str:
    """An f64 as Rust's Display prints it, with serde's `.0` for integral values."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return f"{int(value)}.0"
    return repr(value)


def one_of(names: list[str]) -> str:
    """serde's `OneOf`: what a variant or field name was expected to be."""
    quoted = [f"`{name}`" for name in names]
    if not quoted:
        return "there are no fields"
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


# -- base58 (the bs58 crate, decoding onto a 32-byte buffer) ------------------------------------
class Base58Error(ValueError):
    pass


def bs58_decode_onto(text: str, size: int = HASH_LEN) -> bytes:
    """`bs58::decode(text).onto(&mut [0; size])`: the decoded bytes, or the crate's error."""
    raw = text.encode("utf-8")
    output = bytearray()  # little-endian while decoding, like the crate
    for index, byte in enumerate(raw):
        if byte > 127:
            raise Base58Error(f"provided string contained non-ascii character starting at byte {index}")
        value = _B58_INDEX.get(chr(byte))
        if value is None:
            raise Base58Error(
                f"provided string contained invalid character {rust_debug_char(chr(byte))} at byte {index}"
            )
        carry = value
        for position_ in range(len(output)):
            carry += output[position_] * 58
            output[position_] = carry & 0xFF
            carry >>= 8
        while carry > 0:
            if len(output) >= size:
                raise Base58Error(BS58_BUFFER_TOO_SMALL)
            output.append(carry & 0xFF)
            carry >>= 8
    for byte in raw:
        if byte != ord("1"):
            break
        if len(output) >= size:
            raise Base58Error(BS58_BUFFER_TOO_SMALL)
        output.append(0)
    return bytes(reversed(output))


class InvalidLength(ValueError):
    pass


def parse_hash(text: str) -> bytes:
    """`Hash::from_str`: 32 bytes, or Base58Error / InvalidLength."""
    if len(text.encode("utf-8")) > MAX_HASH_STR_LEN:
        raise Base58Error(BS58_BUFFER_TOO_SMALL)
    decoded = bs58_decode_onto(text)
    if len(decoded) != HASH_LEN:
        raise InvalidLength("invalid hash length")
    return decoded


def hash_from_serde(text: str) -> bytes:
    """A Hash deserialized by serde (ContextId, ApplicationId): the visitor's errors as messages."""
    try:
        return parse_hash(text)
    except InvalidLength:
        raise SerdeError(f"invalid length {len(text.encode('utf-8'))}, expected a base58 encoded hash") from None
    except Base58Error as error:
        raise SerdeError(str(error)) from None


# -- JSON with spans -----------------------------------------------------------------------------
@dataclass
class Node:
    """A JSON value and its byte span [start, end) in the text."""

    kind: str  # "object", "array", "string", "number", "bool", "null"
    value: Any  # python value for scalars; list of Node / list of Member for containers
    start: int
    end: int
    escaped: bool = False  # a string written with escapes (serde cannot borrow it)
    integer: bool = False  # a number without fraction or exponent

    def plain(self) -> Any:
        """The value as plain Python (dicts keep the last of duplicate keys, as serde_json does)."""
        if self.kind == "object":
            return {member.key: member.value.plain() for member in self.value}
        if self.kind == "array":
            return [item.plain() for item in self.value]
        return self.value


@dataclass
class Member:
    key: str
    key_end: int
    value: Node


class JsonSyntaxError(SerdeError):
    pass


class _Parser:
    def __init__(self, text: bytes) -> None:
        self.text = text
        self.index = 0

    def error(self, message: str, offset: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(message, self.index if offset is None else offset)

    def peek_error(self, message: str) -> JsonSyntaxError:
        return self.error(message, min(len(self.text), self.index + 1))

    def skip_ws(self) -> None:
        while self.index < len(self.text) and self.text[self.index] in b" \t\n\r":
            self.index += 1

    def parse_document(self) -> Node:
        self.skip_ws()
        node = self.value("EOF while parsing a value")
        self.skip_ws()
        if self.index < len(self.text):
            raise self.peek_error("trailing characters")
        return node

    def value(self, eof_message: str) -> Node:
        if self.index >= len(self.text):
            raise self.error(eof_message)
        char = self.text[self.index : self.index + 1]
        start = self.index
        if char == b"{":
            return self.object()
        if char == b"[":
            return self.array()
        if char == b'"':
            text, escaped = self.string()
            return Node("string", text, start, self.index, escaped=escaped)
        if char in b"-0123456789":
            return self.number()
        for literal, kind, value in ((b"true", "bool", True), (b"false", "bool", False), (b"null", "null", None)):
            if char == literal[:1]:
                for expected in literal:
                    if self.index >= len(self.text):
                        raise self.error("EOF while parsing a value")
                    if self.text[self.index] != expected:
                        raise self.peek_error("expected ident")
                    self.index += 1
                return Node(kind, value, start, self.index)
        raise self.peek_error("expected value")

    def object(self) -> Node:
        start = self.index
        self.index += 1
        members: list[Member] = []
        self.skip_ws()
        if self.text[self.index : self.index + 1] == b"}":
            self.index += 1
            return Node("object", members, start, self.index)
        while True:
            self.skip_ws()
            if self.index >= len(self.text):
                raise self.error("EOF while parsing an object")
            if self.text[self.index : self.index + 1] != b'"':
                raise self.peek_error("key must be a string")
            key, _ = self.string()
            key_end = self.index
            self.skip_ws()
            if self.index >= len(self.text):
                raise self.error("EOF while parsing an object")
            if self.text[self.index : self.index + 1] != b":":
                raise self.peek_error("expected `:`")
            self.index += 1
            self.skip_ws()
            members.append(Member(key, key_end, self.value("EOF while parsing a value")))
            self.skip_ws()
            char = self.text[self.index : self.index + 1]
            if char == b",":
                self.index += 1
                continue
            if char == b"}":
                self.index += 1
                return Node("object", members, start, self.index)
            if not char:
                raise self.error("EOF while parsing an object")
            raise self.peek_error("expected `,` or `}`")

    def array(self) -> Node:
        start = self.index
        self.index += 1
        items: list[Node] = []
        self.skip_ws()
        if self.text[self.index : self.index + 1] == b"]":
            self.index += 1
            return Node("array", items, start, self.index)
        while True:
            self.skip_ws()
            items.append(self.value("EOF while parsing a list"))
            self.skip_ws()
            char = self.text[self.index : self.index + 1]
            if char == b",":
                self.index += 1
                continue
            if char == b"]":
                self.index += 1
                return Node("array", items, start, self.index)
            if not char:
                raise self.error("EOF while parsing a list")
            raise self.peek_error("expected `,` or `]`")

    def string(self) -> tuple[str, bool]:
        self.index += 1
        begin = self.index
        escaped = False
        while True:
            if self.index >= len(self.text):
                raise self.error("EOF while parsing a string")
            byte = self.text[self.index]
            if byte == ord('"'):
                raw = self.text[begin : self.index]
                self.index += 1
                break
            if byte == ord("\\"):
                escaped = True
                self.index += 2
                continue
            if byte < 0x20:
                raise self.peek_error("control character (\\u0000-\\u001F) found while parsing a string")
            self.index += 1
        if not escaped:
            return raw.decode("utf-8", errors="replace"), False
        import json  # only escaped strings need the decoder

        try:
            return str(json.loads(b'"' + raw + b'"')), True
        except ValueError:
            raise self.error("invalid escape") from None

    def number(self) -> Node:
        start = self.index
        text = self.text
        if text[self.index : self.index + 1] == b"-":
            self.index += 1
        digits = self.index
        while self.index < len(text) and text[self.index] in b"0123456789":
            self.index += 1
        if self.index == digits:
            raise self.peek_error("invalid number")
        integer = True
        if text[self.index : self.index + 1] == b".":
            integer = False
            self.index += 1
            while self.index < len(text) and text[self.index] in b"0123456789":
                self.index += 1
        if text[self.index : self.index + 1] in (b"e", b"E"):
            integer = False
            self.index += 1
            if text[self.index : self.index + 1] in (b"+", b"-"):
                self.index += 1
            while self.index < len(text) and text[self.index] in b"0123456789":
                self.index += 1
        raw = text[start : self.index].decode()
        value: int | float = int(raw) if integer else float(raw)
        return Node("number", value, start, self.index, integer=integer)


def parse(text: bytes) -> Node:
    """Parse a JSON document, or raise JsonSyntaxError with serde_json's message and position."""
    return _Parser(text).parse_document()


def from_plain(value: Any) -> Node:
    """A Node for a plain Python value (a serde_json::Value: no positions)."""
    if isinstance(value, dict):
        return Node("object", [Member(str(k), 0, from_plain(v)) for k, v in value.items()], 0, 0)
    if isinstance(value, list):
        return Node("array", [from_plain(item) for item in value], 0, 0)
    if isinstance(value, bool):
        return Node("bool", value, 0, 0)
    if value is None:
        return Node("null", None, 0, 0)
    if isinstance(value, (int, float)):
        return Node("number", value, 0, 0, integer=isinstance(value, int))
    return Node("string", str(value), 0, 0)


def unexpected(node: Node) -> str:
    """serde_json's description of a value of the wrong type."""
    if node.kind == "null":
        return "null"
    if node.kind == "bool":
        return f"boolean `{'true' if node.value else 'false'}`"
    if node.kind == "number":
        return f"integer `{node.value}`" if node.integer else f"floating point `{rust_float(float(node.value))}`"
    if node.kind == "string":
        return f"string {rust_debug_str(node.value)}"
    return "sequence" if node.kind == "array" else "map"


# -- types -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prim:
    """A scalar type: `string`, `str` (borrowed), `hash` (base58 32 bytes), `u8`, `u32`, `u64`,
    `bool`, `any` (serde_json::Value)."""

    name: str


@dataclass(frozen=True)
class Opt:
    inner: Type


@dataclass(frozen=True)
class Seq:
    inner: Type


@dataclass(frozen=True)
class Array:
    """`[u8; N]`: a sequence of exactly N bytes."""

    size: int


@dataclass(frozen=True)
class Struct:
    name: str
    fields: tuple[tuple[str, Type], ...]
    deny_unknown: bool = False
    defaults: frozenset[str] = field(default_factory=frozenset)  # #[serde(default)] fields


Type = Union[Prim, Opt, Seq, Array, Struct]

STRING, BORROWED_STR, HASH, U8, U32, U64, BOOL, ANY = (
    Prim(name) for name in ("string", "str", "hash", "u8", "u32", "u64", "bool", "any")
)
BYTES = Seq(U8)
_EXPECTING = {"string": "a string", "str": "a borrowed string", "hash": "a base58 encoded hash",
              "u8": "u8", "u32": "u32", "u64": "u64", "bool": "a boolean"}
_UNSIGNED_MAX = {"u8": 0xFF, "u32": 0xFFFF_FFFF, "u64": 0xFFFF_FFFF_FFFF_FFFF}


class Deserializer:
    """Deserialize Nodes against Types, as serde_json does (`positions=False`: from a Value)."""

    def __init__(self, *, positions: bool = True) -> None:
        self.positions = positions

    def _at(self, offset: int) -> int | None:
        return offset if self.positions else None

    def invalid_type(self, node: Node, expected: str, path: str = "") -> SerdeError:
        # containers are refused before their bracket is consumed; scalars after the token
        offset = node.start if node.kind in ("array", "object") else node.end
        return SerdeError(f"invalid type: {unexpected(node)}, expected {expected}", self._at(offset), path)

    def value(self, node: Node, kind: Type, path: str = "") -> Any:
        if isinstance(kind, Opt):
            return None if node.kind == "null" else self.value(node, kind.inner, path)
        if isinstance(kind, Seq):
            if node.kind != "array":
                raise self.invalid_type(node, "a sequence", path)
            return [self.value(item, kind.inner, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if isinstance(kind, Array):
            return self._array(node, kind, path)
        if isinstance(kind, Struct):
            return self.struct(node, kind, path)
        name = kind.name
        if name == "any":
            return node.plain()
        if name in ("string", "str", "hash"):
            if node.kind != "string":
                raise self.invalid_type(node, _EXPECTING[name], path)
            if name == "str" and node.escaped:
                raise self.invalid_type(node, _EXPECTING[name], path)
            if name == "hash":
                try:
                    return hash_from_serde(node.value)
                except SerdeError as error:
                    raise SerdeError(error.message, self._at(node.end), path) from None
            return node.value
        if name == "bool":
            if node.kind != "bool":
                raise self.invalid_type(node, _EXPECTING[name], path)
            return node.value
        # unsigned integers
        if node.kind != "number" or not node.integer:
            raise self.invalid_type(node, _EXPECTING[name], path)
        if not 0 <= node.value <= _UNSIGNED_MAX[name]:
            raise SerdeError(f"invalid value: integer `{node.value}`, expected {name}", self._at(node.end), path)
        return node.value

    def _array(self, node: Node, kind: Array, path: str) -> bytes:
        expected = f"an array of length {kind.size}"
        if node.kind != "array":
            raise self.invalid_type(node, expected, path)
        items = node.value
        for index, item in enumerate(items[: kind.size]):
            self.value(item, U8, f"{path}[{index}]")
        if len(items) < kind.size:
            raise SerdeError(f"invalid length {len(items)}, expected {expected}", self._at(node.end), path)
        if len(items) > kind.size:
            raise SerdeError("trailing characters", self._at(items[kind.size].start + 1), path)
        return bytes(item.value for item in items)

    def struct(self, node: Node, kind: Struct, path: str = "") -> dict[str, Any]:
        names = [name for name, _ in kind.fields]
        if node.kind == "array":
            return self._struct_from_seq(node, kind, path)
        if node.kind != "object":
            raise self.invalid_type(node, f"struct {kind.name}", path)
        types = dict(kind.fields)
        result: dict[str, Any] = {}
        for member in node.value:
            if member.key not in types:
                if kind.deny_unknown:
                    raise SerdeError(
                        f"unknown field `{member.key}`, expected {one_of(names)}", self._at(member.key_end), path
                    )
                continue
            if member.key in result:
                raise SerdeError(f"duplicate field `{member.key}`", self._at(member.key_end), path)
            child = f"{path}.{member.key}" if path else member.key
            result[member.key] = self.value(member.value, types[member.key], child)
        for name, field_type in kind.fields:
            if name not in result:
                if isinstance(field_type, Opt) or name in kind.defaults:
                    result[name] = None
                else:
                    raise SerdeError(f"missing field `{name}`", self._at(node.end), path)
        return result

    def _struct_from_seq(self, node: Node, kind: Struct, path: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        items = node.value
        for index, (name, field_type) in enumerate(kind.fields):
            if index >= len(items):
                raise SerdeError(
                    f"invalid length {len(items)}, expected struct {kind.name} with {len(kind.fields)} elements",
                    self._at(node.end), path,
                )
            result[name] = self.value(items[index], field_type, f"{path}[{index}]")
        if len(items) > len(kind.fields):
            # serde_json: the comma before the extra element is read, then the element refused
            raise SerdeError("trailing characters", self._at(items[len(kind.fields)].start + 1), path)
        return result


def deserialize_body(text: bytes, kind: Struct) -> dict[str, Any]:
    """A request body: SerdeError (with an offset) for data errors, JsonSyntaxError for syntax."""
    return Deserializer().struct(parse(text), kind)


def deserialize_value(value: Any, kind: Type) -> Any:
    """From an already parsed serde_json::Value: errors carry no position."""
    return Deserializer(positions=False).value(from_plain(value), kind)
