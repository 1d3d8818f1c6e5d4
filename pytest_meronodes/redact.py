"""Keeping secrets out of what we print: JWTs and the passwords this process generated or was
given never reach logs tails, report sections or error messages.

The set of passwords is process-wide on purpose: an error renders its text wherever it is raised
(a thread of a start, a client call after the session's objects are gone), so it cannot be handed
a run's object. It is filled explicitly, where a secret is made or received (start.py for the
admin the plugin creates, the remote backend for the user's), never as a side effect."""

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


class SecretText(str):
    """A string holding a secret (a password on its way to merod's stdin, a token on its way to a
    file). It is the string for every use, but its repr, which `pytest -l` prints for the locals of
    every frame of a traceback, hides it."""

    def __repr__(self) -> str:
        return "'<redacted>'"


class SecretBody(dict):  # type: ignore[type-arg]
    """A request body that carries a secret (credentials, tokens): sent as JSON like any dict, shown
    as `<request body with secrets>` in tracebacks and frame locals."""

    def __repr__(self) -> str:
        return f"<request body with secrets: {', '.join(map(str, self))}>"
