"""The node's HTTP API (admin API, JSON-RPC, auth routes) as merod serves it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .http_types import CORS_HEADERS, HttpRequest, HttpResponse
from .state import ExecutionError

if TYPE_CHECKING:
    from .node import Node

TARGET = "calimero_server"
PUBLIC_ADMIN_ROUTES = ("/admin-api/health", "/admin-api/ready", "/admin-api/is-authed")
DASHBOARD_HTML = b"<!doctype html><title>Calimero admin dashboard (merod-sim)</title><h1>merod-sim</h1>"


def _data(payload: Any, status: int = 200) -> HttpResponse:
    return HttpResponse.json(status, {"data": payload})


class NodeApi:
    def __init__(self, node: Node) -> None:
        self.node = node

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/") or "/"
        if request.method == "OPTIONS":
            # CORS preflight is never blocked by auth
            return HttpResponse(204, b"", dict(CORS_HEADERS))
        auth = self.node.auth
        if auth is not None:
            routed = auth.route(request)
            if routed is not None:
                return routed
        if path in PUBLIC_ADMIN_ROUTES:
            return self._public(path)
        if path == "/admin-dashboard" or path.startswith("/admin-dashboard/"):
            return HttpResponse(200, DASHBOARD_HTML, {"Content-Type": "text/html"})
        if path == "/metrics":
            return self._metrics()
        protected = path == "/jsonrpc" or path in ("/ws", "/sse") or path.startswith("/admin-api/")
        if not protected:
            return HttpResponse.error(404, "not found")
        if auth is not None:
            verdict = auth.check(request, "context:execute" if path == "/jsonrpc" else "admin")
            if verdict.denial is not None:
                return verdict.denial
        if path == "/jsonrpc":
            return self._jsonrpc(request)
        if path == "/ws":
            return HttpResponse.error(426, "websocket upgrade required (not simulated)")
        if path == "/sse":
            return HttpResponse(200, b": merod-sim event stream\n\n", {"Content-Type": "text/event-stream"})
        return self._admin(request, path)

    def _public(self, path: str) -> HttpResponse:
        if "never-healthy" in self.node.faults:
            return HttpResponse.error(503, "store_unavailable")  # what a node with a broken store says
        if path == "/admin-api/ready":
            status = self.node.readiness()
            if status != "ready":
                return HttpResponse.error(503, status)
            return _data({"status": "ready"})
        return _data({"status": "alive"})

    def _metrics(self) -> HttpResponse:
        lines = [
            "# TYPE calimero_peers gauge",
            f"calimero_peers {len(self.node.swarm.peers())}",
            "# TYPE calimero_contexts gauge",
            f"calimero_contexts {len(self.node.state.contexts)}",
        ]
        return HttpResponse(200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/plain"})

    # -- admin API ------------------------------------------------------------------------------
    def _admin(self, request: HttpRequest, path: str) -> HttpResponse:
        method = request.method
        parts = path.split("/")[2:]  # after "/admin-api"
        node = self.node
        if parts == ["peers"] and method == "GET":
            if "exit-on-peers" in node.faults:
                node.crash()  # for the plugin's tests: at the moment the mesh gate asks, never sooner
            return HttpResponse.json(200, {"count": len(node.swarm.peers())})
        if parts == ["identity"] and method == "GET":
            return _data({"peerId": node.peer_id, "nodeName": node.name})
        if parts == ["applications"] and method == "GET":
            with node.state.lock:
                apps = list(node.state.applications.values())
            return _data({"apps": apps})
        if parts == ["install-dev-application"] and method == "POST":
            return self._install(request)
        if parts == ["contexts"] and method == "POST":
            return self._create_context(request)
        if parts == ["contexts"] and method == "GET":
            with node.state.lock:
                contexts = [node.context_summary(c) for c in node.state.contexts.values()]
            return _data({"contexts": contexts})
        if len(parts) == 2 and parts[0] == "contexts" and method == "GET":
            with node.state.lock:
                context = node.state.contexts.get(parts[1])
                if context is None:
                    return HttpResponse.error(404, "context not found")
                return _data(node.context_summary(context))
        if len(parts) == 3 and parts[0] == "contexts" and parts[2] == "join" and method == "POST":
            context = node.join_context(parts[1])
            if context is None:
                return HttpResponse.error(404, "context not found on any connected peer")
            return _data({"contextId": context.id, "memberPublicKey": context.member_public_key})
        return HttpResponse.error(404, "not found")

    def _body(self, request: HttpRequest) -> dict[str, Any] | None:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def _install(self, request: HttpRequest) -> HttpResponse:
        body = self._body(request)
        if body is None or not isinstance(body.get("path"), str):
            return HttpResponse.error(400, "expected a JSON body with a string 'path'")
        path = Path(body["path"])
        if not path.is_file():
            return HttpResponse.error(400, f"no application file at {path}")
        application_id = self.node.state.install_application(path, body.get("metadata", []))
        self.node.log.info(TARGET, f"Installed application {application_id} from {path}")
        return _data({"applicationId": application_id})

    def _create_context(self, request: HttpRequest) -> HttpResponse:
        body = self._body(request)
        if body is None or not isinstance(body.get("applicationId"), str):
            return HttpResponse.error(400, "expected a JSON body with a string 'applicationId'")
        if body["applicationId"] not in self.node.state.applications:
            return HttpResponse.error(404, "application not installed")
        context = self.node.state.create_context(body["applicationId"])
        self.node.log.info(TARGET, f"Created context {context.id}")
        return _data({"contextId": context.id, "memberPublicKey": context.member_public_key})

    # -- JSON-RPC -------------------------------------------------------------------------------
    def _jsonrpc(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse.error(405, "method not allowed")
        body = self._body(request)
        request_id = body.get("id") if body else None
        params = body.get("params") if body else None
        if (
            body is None
            or body.get("jsonrpc") != "2.0"
            or body.get("method") != "execute"
            or not isinstance(params, dict)
            or not isinstance(params.get("contextId"), str)
            or not isinstance(params.get("method"), str)
        ):
            return self._rpc_error(request_id, "ParseError", "expected a JSON-RPC 2.0 'execute' request")
        try:
            output = self.node.execute(params["contextId"], params["method"], params.get("argsJson", {}))
        except ExecutionError as error:
            return self._rpc_error(request_id, error.kind, error.data)
        return HttpResponse.json(200, {"jsonrpc": "2.0", "id": request_id, "result": {"output": output}})

    @staticmethod
    def _rpc_error(request_id: Any, kind: str, data: Any) -> HttpResponse:
        return HttpResponse.json(
            200, {"jsonrpc": "2.0", "id": request_id, "error": {"type": kind, "data": data}}
        )
