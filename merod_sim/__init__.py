"""A merod simulator: a test double honouring the merod interface (docs/simulator.md says what it covers).

It is used by pytest-meronodes' own test suite and as a zero-setup demo. It is never a silent
substitute for merod: `merod-sim --version` and the pytest header both say "simulator". It imports
nothing of pytest_meronodes, nor anything beyond the standard library but tomli-w (and tomli
before 3.11): a node's start-up time is mostly imports.
"""

__version__ = "0.1.0"  # released with pytest-meronodes, under its version

SIMULATED_MEROD_VERSION = "0.11.0-rc.25"
# `--version` reports this release instead (the plugin's tests exercise its version checks with it)
VERSION_ENV = "MEROD_SIM_VERSION"
