"""Which merod program the plugin runs, and what version it reports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

SIMULATOR_ALIAS = "sim"
SIMULATOR_MODULE = "pytest_meronodes.simulator"


class MerodProgramError(Exception):
    """The configured merod program cannot be found or does not behave like merod."""


@dataclass(frozen=True)
class MerodProgram:
    command: tuple[str, ...]  # argv prefix: a binary, or the interpreter running the simulator
    configured_as: str

    @property
    def is_simulator(self) -> bool:
        return self.configured_as == SIMULATOR_ALIAS or self.command[-1] == SIMULATOR_MODULE

    def describe(self) -> str:
        return " ".join(self.command)

    def version(self, timeout: float = 15.0) -> str:
        """The first line of `--version`; raises MerodProgramError if it is not merod's."""
        try:
            completed = subprocess.run(
                [*self.command, "--version"], capture_output=True, text=True, timeout=timeout, check=False
            )
        except OSError as error:
            raise MerodProgramError(f"cannot run {self.describe()!r}: {error.strerror}") from None
        except subprocess.TimeoutExpired:
            raise MerodProgramError(f"{self.describe()!r} --version did not answer in {timeout:g} s") from None
        first_line = (completed.stdout.strip().splitlines() or [""])[0]
        if completed.returncode != 0 or not first_line.startswith("merod"):
            raise MerodProgramError(
                f"{self.describe()!r} does not look like merod: `--version` exited "
                f"{completed.returncode} and printed {first_line!r}"
            )
        return first_line


def resolve(configured: str) -> MerodProgram:
    """`sim` (or a path to merod-sim) runs the simulator with this interpreter; anything else is
    a path or a name looked up on PATH."""
    if configured == SIMULATOR_ALIAS:
        return MerodProgram((sys.executable, "-m", SIMULATOR_MODULE), configured)
    found = shutil.which(configured) if os.sep not in configured else configured
    if found is None or not os.path.exists(found):
        raise MerodProgramError(
            f"merod program {configured!r} not found; install merod, or set --merod-binary "
            f"(MERONODES_MEROD_BINARY, ini merod_binary) to its path, or to 'sim' for the simulator"
        )
    return MerodProgram((os.path.abspath(found),), configured)
