"""A merod simulator: a test double honouring the merod interface (docs/simulator.md says what it covers).

It is used by this project's own test suite and as a zero-setup demo. It is never a silent
substitute for merod: `merod-sim --version` and the pytest header both say "simulator".
"""

SIMULATED_MEROD_VERSION = "0.11.0-rc.25"
# `--version` reports this release instead (the plugin's tests exercise its version checks with it)
VERSION_ENV = "MEROD_SIM_VERSION"
# Faults the plugin's tests inject, comma separated: exit-at-start[=CODE], exit-after=MS, exit-on-peers,
# never-healthy, no-dial, no-sync (see docs/simulator.md)
FAULT_ENV = "MEROD_SIM_FAULT"
