"""Keeping secrets out of what we print: JWTs and the passwords this process generated or was
given never reach logs tails, report sections or error messages."""

from __future__ import annotations

import re
import threading

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_secrets: set[str] = set()
_lock = threading.Lock()


def register(secret: str) -> None:
    """Remember a secret so that every later redact() hides it."""
    if len(secret) >= 4:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    text = JWT.sub("<redacted token>", text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "<redacted>")
    return text
