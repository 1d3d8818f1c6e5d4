"""The backends' names, and where each one's class lives: the one list to extend for a new
backend. It imports nothing, so that config.py can check --node-backend against it."""

# name -> "module:class"; a class has `name`, `header(config)` (static), and is built with
# (config, run); it may offer `engine_resources()` (static): what it leaves outside the run records
BACKENDS = {
    "binary": "pytest_meronodes.backends.binary:BinaryBackend",
    "docker": "pytest_meronodes.backends.docker:DockerBackend",
    "remote": "pytest_meronodes.backends.remote:RemoteBackend",
}
