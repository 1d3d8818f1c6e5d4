"""pytest-meronodes: clusters of Calimero nodes (merod) as pytest fixtures."""

from .client import Credentials, NodeClient
from .cluster import Cluster
from .errors import (
    ConfigurationError,
    ContextNotReadyError,
    FaultUnavailableError,
    LogTimeoutError,
    MeronodesError,
    NodeApiError,
    NodeAuthError,
    NodeError,
    NodeGoneError,
    NodeRequestError,
    NodeStartError,
    NodeTimeoutError,
    NodeUnreachableError,
    PortsUnavailableError,
    ProxyStartError,
    RpcError,
    SyncTimeoutError,
)
from .factory import ClusterFactory
from .node import Node
from .records import (
    Application,
    ContextInfo,
    CreatedContext,
    JoinedContext,
    Namespace,
    NamespaceMembership,
    NodeIdentity,
    SyncStatus,
)
from .shared_context import MemberState, SharedContext
from .sharing import SharedClusters
from .versions import MerodRelease, MerodVersionError

__version__ = "0.1.0"

__all__ = [
    "Application",
    "Cluster",
    "ClusterFactory",
    "ConfigurationError",
    "ContextInfo",
    "ContextNotReadyError",
    "CreatedContext",
    "Credentials",
    "FaultUnavailableError",
    "JoinedContext",
    "LogTimeoutError",
    "MemberState",
    "MerodRelease",
    "MerodVersionError",
    "MeronodesError",
    "Namespace",
    "NamespaceMembership",
    "Node",
    "NodeApiError",
    "NodeAuthError",
    "NodeClient",
    "NodeError",
    "NodeGoneError",
    "NodeIdentity",
    "NodeRequestError",
    "NodeStartError",
    "NodeTimeoutError",
    "NodeUnreachableError",
    "PortsUnavailableError",
    "ProxyStartError",
    "RpcError",
    "SharedClusters",
    "SharedContext",
    "SyncStatus",
    "SyncTimeoutError",
    "__version__",
]
