"""merod releases and what each can do: the plugin reads `merod --version` and adapts, and a flow
that needs a newer merod than the one found says so, once, naming the release it needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .errors import ConfigurationError

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-rc\.(\d+))?")


@dataclass(frozen=True, order=True)
class MerodVersion:
    """A merod release, comparable: 0.10.0-rc.38 < 0.10.0 < 0.10.1-rc.1."""

    major: int
    minor: int
    patch: int
    rc: float  # a final release sorts after all of its release candidates

    @classmethod
    def parse(cls, text: str) -> MerodVersion:
        match = _VERSION.search(text)
        if match is None:
            raise ValueError(f"no merod version in {text!r}")
        major, minor, patch, rc = match.groups()
        return cls(int(major), int(minor), int(patch), float(rc) if rc else float("inf"))

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        return base if self.rc == float("inf") else f"{base}-rc.{int(self.rc)}"


class Feature(Enum):
    """Section 6 of the interface document: what changed, and the first release with it."""

    EMBEDDED_AUTH = ("embedded auth", "0.10.0-rc.18")
    NODE_FLAG = ("`--node` (older releases spell it `--node-name`)", "0.10.0-rc.38")
    NAMESPACE_INVITATIONS = ("invitations through namespaces", "0.10.1-rc.18")
    CONTEXT_STATE_HASH = ("`contextStateHash` (older releases answer `rootHash`)", "0.10.1-rc.35")
    READY_ENDPOINT = ("`/admin-api/ready`", "0.11.0-rc.10")
    ADMIN_AT_INIT = ("the admin account minted at init", "0.11.0-rc.17")
    CONTEXTS_IN_NAMESPACES = ("contexts in namespaces (`groupId`, `initializationParams`)", "0.11.0-rc.1")
    IDENTITY_KEYS = ("`/admin-api/identity` with account and device keys", "0.11.0-rc.21")
    EXIT_ON_EOF = ("`merod run --exit-on-eof`", "0.11.0-rc.23")

    def __init__(self, what: str, since: str) -> None:
        self.what = what
        self.since = MerodVersion.parse(since)


class MerodVersionError(ConfigurationError):
    """A flow needs a newer merod than the one the session runs."""


@dataclass(frozen=True)
class MerodRelease:
    """The merod a session runs: its `--version` line and what that release can do. A version
    that cannot be read (a development build) is taken for the newest."""

    text: str
    version: MerodVersion | None

    @classmethod
    def from_version_text(cls, text: str) -> MerodRelease:
        try:
            return cls(text, MerodVersion.parse(text))
        except ValueError:
            return cls(text, None)

    @classmethod
    def unknown(cls, why: str) -> MerodRelease:
        return cls(why, None)

    def has(self, feature: Feature) -> bool:
        return self.version is None or self.version >= feature.since

    def require(self, feature: Feature, needed_by: str) -> None:
        """Raise one clear message when `needed_by` needs a newer merod than this one."""
        if not self.has(feature):
            raise MerodVersionError(
                f"{needed_by} needs merod >= {feature.since} ({feature.what}); this merod is {self.version} "
                f"({self.text}): use a newer merod (--merod-binary, or --merod-image for Docker)"
            )
