"""Which merod program the plugin runs, and what version it reports."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigurationError

SIMULATOR_ALIAS = "sim"
SIMULATOR_MODULE = "merod_sim"


class MerodProgramError(ConfigurationError):
    """The configured merod program cannot be found or does not behave like merod."""


@dataclass(frozen=True)
class MerodProgram:
    command: tuple[str, ...]  # argv prefix: a binary, or the interpreter running the simulator
    configured_as: str

    @property
    def is_simulator(self) -> bool:
        return self.configured_as == SIMULATOR_ALIAS or self.command[-1] == SIMULATOR_MODULE

    def describe(self) -> str:
        if self.is_simulator:  # without the PYTHONPATH plumbing of simulator_command()
            return " ".join(self.command[self.command.index(sys.executable):])
        return " ".join(self.command)

    def version(self, timeout: float = 15.0) -> str:
        """The first line of `--version`; raises MerodProgramError if it is not merod's."""
        return _version_of(self.command, timeout)


@lru_cache(maxsize=8)
def _version_of(command: tuple[str, ...], timeout: float) -> str:
    """Asked once per process: the header and the backend both want it."""
    shown = " ".join(command)
    try:
        completed = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except OSError as error:
        raise MerodProgramError(f"cannot run {shown!r}: {error.strerror}") from None
    except subprocess.TimeoutExpired:
        raise MerodProgramError(f"{shown!r} --version did not answer in {timeout:g} s") from None
    first_line = (completed.stdout.strip().splitlines() or [""])[0]
    if completed.returncode != 0 or not first_line.startswith("merod"):
        # the program's own words (a missing library, a crash) say more than its exit code
        said = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-10:])
        raise MerodProgramError(
            f"{shown!r} does not look like merod: `--version` exited {completed.returncode} "
            f"and printed {first_line!r}; point --merod-binary at a merod binary"
            + (f"\n--- what it printed ---\n{said}" if said else "")
        )
    return first_line


def simulator_command() -> tuple[str, ...]:
    """This interpreter running the simulator without the `site` module (-S): a node starts in
    half the time, as interpreter start-up is most of it. Its only imports are merod_sim itself
    and tomli-w (tomli too before 3.11), so their directories go on PYTHONPATH (through `env`,
    keeping the command whole)."""
    import tomli_w

    # found, not imported: the plugin uses none of the simulator's code
    simulator = importlib.util.find_spec(SIMULATOR_MODULE)
    if simulator is None or simulator.origin is None:  # pragma: no cover - installed with the plugin
        raise MerodProgramError(f"the simulator ({SIMULATOR_MODULE}) is not installed; reinstall pytest-meronodes")
    paths = {
        str(Path(simulator.origin).resolve().parent.parent),
        str(Path(tomli_w.__file__).resolve().parent.parent),
    }
    if sys.version_info < (3, 11):  # pragma: no cover
        import tomli

        paths.add(str(Path(tomli.__file__).resolve().parent.parent))
    # and bytecode may be cached even where PYTHONDONTWRITEBYTECODE is set (an editable install
    # has no .pyc otherwise, and every node would compile the simulator anew)
    return (
        "env", "-u", "PYTHONDONTWRITEBYTECODE", f"PYTHONPATH={os.pathsep.join(sorted(paths))}",
        sys.executable, "-S", "-m", SIMULATOR_MODULE,
    )


def resolve(configured: str) -> MerodProgram:
    """`sim` runs the bundled simulator with this interpreter; anything else is a path, or a
    name looked up on PATH (a `merod-sim` given that way runs too; the header then shows its
    `--version`, which says it is the simulator)."""
    if configured == SIMULATOR_ALIAS:
        return MerodProgram(simulator_command(), configured)
    found = shutil.which(configured) if os.sep not in configured else configured
    if found is None or not os.path.exists(found):
        raise MerodProgramError(
            f"merod program {configured!r} not found; install merod, or set --merod-binary "
            f"(MERONODES_MEROD_BINARY, ini merod_binary) to its path, or to 'sim' for the simulator"
        )
    return MerodProgram((os.path.abspath(found),), configured)
