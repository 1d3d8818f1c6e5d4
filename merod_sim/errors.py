"""The error every command reports the same way (kept apart from cli.py, which imports the
commands, so that a command module can raise it without importing the CLI back)."""

from __future__ import annotations


class CliError(Exception):
    """An error the user must fix: `Error:` and the chain of messages on stderr, exit code 1."""

    def __init__(self, *chain: str) -> None:
        super().__init__(chain[-1] if chain else "")
        self.chain = list(chain)
