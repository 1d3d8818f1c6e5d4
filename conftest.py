"""Root conftest: makes the repository importable for the test helpers (`tests.simhelpers`).

The plugin itself is loaded through its pytest11 entry point, as users load it."""
