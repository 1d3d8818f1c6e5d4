"""The sharing tests drive inner sessions like the plugin tests do."""

from tests.plugin.conftest import inner

__all__ = ["inner"]
