"""pytest-meronodes: clusters of Calimero nodes (merod) as pytest fixtures."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Imported lazily: the simulator lives in this package and must start without loading requests.
_EXPORTS = {
    "Credentials": "client",
    "NodeClient": "client",
    "Cluster": "cluster",
    "Node": "cluster",
    "ClusterFactory": "factory",
    "ConfigurationError": "errors",
    "MeronodesError": "errors",
    "NodeApiError": "errors",
    "NodeAuthError": "errors",
    "NodeError": "errors",
    "NodeStartError": "errors",
    "PortsUnavailableError": "errors",
    "RpcError": "errors",
}

if TYPE_CHECKING:  # explicit re-exports for type checkers; at run time, __getattr__
    from .client import Credentials as Credentials
    from .client import NodeClient as NodeClient
    from .cluster import Cluster as Cluster
    from .cluster import Node as Node
    from .errors import ConfigurationError as ConfigurationError
    from .errors import MeronodesError as MeronodesError
    from .errors import NodeApiError as NodeApiError
    from .errors import NodeAuthError as NodeAuthError
    from .errors import NodeError as NodeError
    from .errors import NodeStartError as NodeStartError
    from .errors import PortsUnavailableError as PortsUnavailableError
    from .errors import RpcError as RpcError
    from .factory import ClusterFactory as ClusterFactory


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_meronodes' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)


__all__ = [*sorted(_EXPORTS), "__version__"]
