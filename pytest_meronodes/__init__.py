"""pytest-meronodes: clusters of Calimero nodes (merod) as pytest fixtures.

The public names below are imported lazily, and this file imports nothing itself: the merod
simulator lives in this package and a node's start-up time is mostly imports. Type checkers read
__init__.pyi instead."""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Credentials": "client",
    "NodeClient": "client",
    "Cluster": "cluster",
    "Node": "node",
    "ClusterFactory": "factory",
    "ConfigurationError": "errors",
    "ContextNotReadyError": "errors",
    "MeronodesError": "errors",
    "NodeApiError": "errors",
    "NodeAuthError": "errors",
    "NodeError": "errors",
    "NodeGoneError": "errors",
    "NodeRequestError": "errors",
    "NodeStartError": "errors",
    "NodeTimeoutError": "errors",
    "NodeUnreachableError": "errors",
    "PortsUnavailableError": "errors",
    "RpcError": "errors",
    "SyncTimeoutError": "errors",
    "Application": "records",
    "ContextInfo": "records",
    "CreatedContext": "records",
    "JoinedContext": "records",
    "Namespace": "records",
    "NamespaceMembership": "records",
    "NodeIdentity": "records",
    "SyncStatus": "records",
    "MemberState": "shared_context",
    "SharedContext": "shared_context",
    "MerodRelease": "versions",
    "MerodVersionError": "versions",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):  # type: ignore[no-untyped-def]
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_meronodes' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
