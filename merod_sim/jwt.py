"""HS256 JSON Web Tokens (RFC 7519), the only kind merod's auth issues; errors are named as the
`jsonwebtoken` crate names them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class InvalidToken(Exception):
    pass


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], secret: bytes) -> str:
    header = _b64encode(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = _b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def decode(token: str, secret: bytes) -> dict[str, Any]:
    """Verify the signature and return the claims; expiry is the caller's business."""
    try:
        header_text, payload_text, signature_text = token.split(".")
        header = json.loads(_b64decode(header_text))
        claims = json.loads(_b64decode(payload_text))
        signature = _b64decode(signature_text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidToken("Malformed token: InvalidToken") from error
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("InvalidAlgorithm")
    expected = hmac.new(secret, f"{header_text}.{payload_text}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("InvalidSignature")
    if not isinstance(claims, dict):
        raise InvalidToken("Malformed token: InvalidToken")
    return claims
