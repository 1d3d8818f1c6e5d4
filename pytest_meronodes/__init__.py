"""pytest-meronodes: clusters of Calimero nodes (merod) as pytest fixtures."""

__version__ = "0.1.0"
