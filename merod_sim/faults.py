"""Test-only faults, for the plugin's own tests: `MEROD_SIM_FAULT` in the environment of `run`,
comma separated (docs/simulator.md). Everything about them is here: the parsing, and one small
hook for each place a fault acts, so the CLI, the node and the HTTP API carry no fault names."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from .http_types import HttpResponse
from .logs import Logger

FAULT_ENV = "MEROD_SIM_FAULT"
TARGET = "merod"  # the simulator's own lines: no merod line to follow
CRASH_EXIT_CODE = 3  # what a merod that panics exits with
# name -> whether it takes a value (`name=VALUE`)
KNOWN = {"exit-at-start": True, "exit-after": True, "exit-on-peers": False, "never-healthy": False,
         "no-dial": False, "no-sync": False}


class FaultError(ValueError):
    """MEROD_SIM_FAULT names a fault that does not exist, or gives one a value it cannot take."""


@dataclass(frozen=True)
class Faults:
    exit_at_start: int | None = None  # the exit code
    exit_after: float | None = None  # seconds after the node is up
    exit_on_peers: bool = False
    never_healthy: bool = False
    no_dial: bool = False
    no_sync: bool = False

    @classmethod
    def parse(cls, text: str) -> Faults:
        """`exit-at-start[=CODE]`, `exit-after=MS`, `exit-on-peers`, `never-healthy`, `no-dial`,
        `no-sync`, comma separated. A typo is an error: a fault silently ignored passes a test
        that meant to fail it."""
        exit_at_start: int | None = None
        exit_after: float | None = None
        flags: set[str] = set()
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, has_value, value = item.partition("=")
            if name not in KNOWN:
                raise FaultError(f"{FAULT_ENV}: unknown fault {name!r}; known: {', '.join(KNOWN)}")
            if has_value and not KNOWN[name]:
                raise FaultError(f"{FAULT_ENV}: {name} takes no value, got {item!r}")
            if KNOWN[name] and not (value or "0").isdigit():
                raise FaultError(f"{FAULT_ENV}: {name} takes a whole number, got {item!r}")
            if name == "exit-at-start":
                exit_at_start = int(value or 1)
            elif name == "exit-after":
                exit_after = int(value or 0) / 1000
            else:
                flags.add(name)
        return cls(exit_at_start=exit_at_start, exit_after=exit_after, exit_on_peers="exit-on-peers" in flags,
                   never_healthy="never-healthy" in flags, no_dial="no-dial" in flags, no_sync="no-sync" in flags)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Faults:
        return cls.parse(environ.get(FAULT_ENV, ""))

    # -- hooks, one per place a fault acts ------------------------------------------------------
    def exit_code_at_start(self, log: Logger) -> int | None:
        """cli `run`, before the node starts: the code to exit with, as a merod that dies while
        starting would; None to start."""
        if self.exit_at_start is None:
            return None
        log.error(TARGET, f"simulated fault ({FAULT_ENV}): exiting during start")
        return self.exit_at_start

    def crash_after_start(self, stop: threading.Event, log: Logger) -> None:
        """cli `run`, once the node is up: crash `exit-after` later unless it is stopped first."""
        if self.exit_after is not None and not stop.wait(self.exit_after):
            crash(log)

    def unhealthy_answer(self) -> HttpResponse | None:
        """The HTTP API's public routes: what a node whose store does not answer says
        (crates/server/src/admin/service.rs) instead of the real answer; None to answer."""
        if self.never_healthy:
            return HttpResponse.json(503, {"data": {"status": "store_unavailable"}})
        return None

    def before_peers_answer(self, log: Logger) -> None:
        """The HTTP API's `peers`: crash at the moment the plugin's mesh gate asks, never sooner."""
        if self.exit_on_peers:
            crash(log)

    def bootstrap_to_dial(self, configured: list[str]) -> list[str]:
        """The node's bootstrap peers as the swarm gets them: none under `no-dial`."""
        return [] if self.no_dial else configured

    def syncs_contexts(self) -> bool:
        """Whether the node syncs contexts at all (`no-sync`: joiners stay uninitialised)."""
        return not self.no_sync


NO_FAULTS = Faults()


def crash(log: Logger) -> NoReturn:
    """A simulated crash (no shutdown, no drain), as a merod that panics would."""
    log.error(TARGET, f"simulated fault ({FAULT_ENV}): crashing")
    os._exit(CRASH_EXIT_CODE)
