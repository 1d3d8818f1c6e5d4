"""What Traefik routes for a cluster behind the auth service, in one place for both the Docker
provider (container labels) and the file provider (native Traefik)."""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC_PATHS = "Path(`/admin-api/health`) || Path(`/admin-api/ready`) || Path(`/admin-api/is-authed`)"
PROTECTED_PATHS = "Path(`/jsonrpc`) || PathPrefix(`/admin-api/`) || PathPrefix(`/ws`) || PathPrefix(`/sse`)"
AUTH_SERVICE_PATHS = "PathPrefix(`/auth/`) || PathPrefix(`/admin/`)"
AUTH_RESPONSE_HEADERS = "X-Auth-User,X-Auth-Permissions"


def host_name(node: str) -> str:
    """Resolves nowhere and needs no DNS: clients connect to 127.0.0.1 and send it as Host."""
    return f"{node}.meronodes.localhost"


@dataclass(frozen=True)
class Route:
    name: str
    rule: str
    priority: int
    service: str
    middleware: str | None = None


def node_routes(prefix: str, node: str, auth_middleware: str) -> list[Route]:
    service = f"{prefix}-{node}"
    host = f"Host(`{host_name(node)}`)"
    return [
        # CORS preflight never meets the auth middleware
        Route(f"{service}-preflight", f"{host} && Method(`OPTIONS`)", 90, service),
        Route(f"{service}-public", f"{host} && ({PUBLIC_PATHS} || PathPrefix(`/admin-dashboard`))", 80, service),
        Route(f"{service}-protected", f"{host} && ({PROTECTED_PATHS})", 70, service, auth_middleware),
    ]


def auth_service_route(prefix: str) -> Route:
    service = f"{prefix}-authsvc"
    return Route(service, AUTH_SERVICE_PATHS, 100, service)


def docker_labels(routes: list[Route], entrypoint: str = "web") -> dict[str, str]:
    labels = {"traefik.enable": "true"}
    for route in routes:
        base = f"traefik.http.routers.{route.name}"
        labels[f"{base}.rule"] = route.rule
        labels[f"{base}.entrypoints"] = entrypoint
        labels[f"{base}.priority"] = str(route.priority)
        labels[f"{base}.service"] = route.service
        if route.middleware:
            labels[f"{base}.middlewares"] = route.middleware
    return labels
