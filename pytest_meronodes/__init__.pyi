from .client import Credentials as Credentials
from .client import NodeClient as NodeClient
from .cluster import Cluster as Cluster
from .errors import ConfigurationError as ConfigurationError
from .errors import ContextNotReadyError as ContextNotReadyError
from .errors import MeronodesError as MeronodesError
from .errors import NodeApiError as NodeApiError
from .errors import NodeAuthError as NodeAuthError
from .errors import NodeError as NodeError
from .errors import NodeGoneError as NodeGoneError
from .errors import NodeRequestError as NodeRequestError
from .errors import NodeStartError as NodeStartError
from .errors import NodeTimeoutError as NodeTimeoutError
from .errors import NodeUnreachableError as NodeUnreachableError
from .errors import PortsUnavailableError as PortsUnavailableError
from .errors import RpcError as RpcError
from .errors import SyncTimeoutError as SyncTimeoutError
from .factory import ClusterFactory as ClusterFactory
from .node import Node as Node
from .records import Application as Application
from .records import ContextInfo as ContextInfo
from .records import CreatedContext as CreatedContext
from .records import JoinedContext as JoinedContext
from .records import Namespace as Namespace
from .records import NamespaceMembership as NamespaceMembership
from .records import NodeIdentity as NodeIdentity
from .records import SyncStatus as SyncStatus
from .shared_context import MemberState as MemberState
from .shared_context import SharedContext as SharedContext
from .versions import MerodRelease as MerodRelease
from .versions import MerodVersionError as MerodVersionError

__version__: str
__all__: list[str]
