"""Every option of the plugin, declared once: its CLI flag, ini key, environment variable,
default and help. plugin.py registers them; config.py resolves them (CLI > env > ini > default)."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "meronodes"


@dataclass(frozen=True)
class OptionSpec:
    name: str  # dest, ini key and MERONODES_<NAME> environment variable
    flag: str
    default: str
    help: str

    @property
    def env(self) -> str:
        return f"MERONODES_{self.name.upper()}"


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "merod_binary",
        "--merod-binary",
        "merod",
        "merod program: a path or a name on PATH; 'sim' runs the bundled merod simulator",
    ),
)

BY_NAME = {spec.name: spec for spec in OPTIONS}
