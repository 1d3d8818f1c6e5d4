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

__version__: str
__all__: list[str]
