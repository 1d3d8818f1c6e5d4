"""The node's HTTP API as merod (crates/server) serves it: the admin API, JSON-RPC, and the auth
routes of embedded mode. Status codes, bodies and content types follow merod's handlers and the
recordings in docs/simulator.md; axum's own answers (404/405 with no body, plain-text rejections)
are kept too."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .http_types import CORS_HEADERS, HttpRequest, HttpResponse
from .node import JoinError, Node

if TYPE_CHECKING:
    from .serdejson import Struct

TARGET = "calimero_server"
PUBLIC_ADMIN_ROUTES = ("/admin-api/health", "/admin-api/ready", "/admin-api/is-authed")
DASHBOARD_HTML = b"<!doctype html><title>Calimero admin dashboard (merod-sim)</title><h1>merod-sim</h1>"
INTERNAL_ERROR = "Internal server error"  # parse_api_error's answer to an untyped failure
JOIN_UNREACHABLE = (
    "could not reach any member of this namespace to complete the join; make sure the inviting node "
    "is online and retry"
)
DEFAULT_INVITATION_SECS = 365 * 24 * 3600
EPHEMERAL_MAX_BYTES = 16384
MAX_METHOD_NAME_LENGTH = 256
JSONRPC_METHODS = ["execute", "sync_status", "set_ephemeral"]


def _data(payload: Any, status: int = 200) -> HttpResponse:
    return HttpResponse.json(status, {"data": payload})


class BadRequest(Exception):
    """A request merod refuses before its handler runs; `response` is what it answers."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _types() -> Any:
    """The request types of crates/server/primitives (serde field order matters: serde reports
    the first missing field in declaration order)."""
    from . import serdejson as s

    invitation = s.Struct("GroupInvitationFromAdmin", (
        ("inviter_identity", s.Array(32)), ("group_id", s.Array(32)), ("expiration_timestamp", s.U64),
        ("secret_salt", s.Array(32)), ("invited_role", s.U8),
    ), defaults=frozenset({"invited_role"}))
    signed = s.Struct("SignedGroupOpenInvitation", (
        ("invitation", invitation), ("inviter_signature", s.STRING), ("inviter_account", s.Opt(s.STRING)),
        ("application_id", s.Opt(s.Array(32))), ("app_key", s.Opt(s.Array(32))),
    ))
    return {
        "install": s.Struct("InstallDevApplicationRequest", (
            ("path", s.STRING), ("metadata", s.BYTES), ("package", s.Opt(s.STRING)), ("version", s.Opt(s.STRING)),
        )),
        "create_context": s.Struct("CreateContextRequest", (
            ("applicationId", s.HASH), ("serviceName", s.Opt(s.STRING)), ("contextSeed", s.Opt(s.HASH)),
            ("initializationParams", s.BYTES), ("groupId", s.STRING), ("identitySecret", s.Opt(s.STRING)),
            ("name", s.Opt(s.STRING)),
        )),
        "create_namespace": s.Struct("CreateNamespaceApiRequest", (
            ("applicationId", s.HASH), ("name", s.Opt(s.STRING)), ("appKey", s.Opt(s.STRING)),
        )),
        "invite": s.Struct("CreateGroupInvitationApiRequest", (
            ("expirationTimestamp", s.Opt(s.U64)), ("recursive", s.Opt(s.BOOL)),
        )),
        "join_namespace": s.Struct("JoinGroupApiRequest", (("invitation", signed), ("groupName", s.Opt(s.STRING)))),
        "execute": s.Struct("ExecutionRequest", (("contextId", s.HASH), ("method", s.STRING), ("argsJson", s.ANY))),
        "sync_status": s.Struct("SyncStatusRequest", (("contextId", s.HASH),)),
        "set_ephemeral": s.Struct("SetEphemeralRequest", (("contextId", s.HASH), ("state", s.BYTES))),
    }


_TYPES: dict[str, Any] = {}


def types() -> dict[str, Any]:
    if not _TYPES:
        _TYPES.update(_types())
    return _TYPES


def validated_json(request: HttpRequest, kind: Struct) -> dict[str, Any]:
    """merod's ValidatedJson extractor: axum's Json rejections, worded by the admin API."""
    from . import serdejson

    if not (request.header("content-type") or "").split(";")[0].strip().lower().endswith("json"):
        raise BadRequest(HttpResponse.error(400, "Expected request with `Content-Type: application/json`"))
    try:
        return serdejson.deserialize_body(request.body, kind)
    except serdejson.JsonSyntaxError as error:
        message = f"JSON syntax error: Failed to parse the request body as JSON: {error.render(request.body)}"
        raise BadRequest(HttpResponse.error(400, message)) from None
    except serdejson.SerdeError as error:
        message = ("Invalid JSON data: Failed to deserialize the JSON body into the target type: "
                   + error.render_with_path(request.body))
        raise BadRequest(HttpResponse.error(400, message)) from None


def parse_group_id(text: str, *, in_body: bool = False) -> str:
    """64 hex characters: groups.rs parse_group_id for a path, create_context.rs's for a body."""
    raw = _hex_decodes(text)
    if raw is None:
        message = ("Invalid group_id: expected hex-encoded 32 bytes" if in_body
                   else "Invalid group id format: expected hex-encoded 32 bytes")
        raise BadRequest(HttpResponse.error(400, message))
    if len(raw) != 32:
        what = "group_id" if in_body else "group id"
        raise BadRequest(HttpResponse.error(400, f"Invalid {what}: must be exactly 32 bytes"))
    return raw.hex()


def _hex_decodes(text: str) -> bytes | None:
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        return None
    return bytes.fromhex(text)


def parse_context_id(text: str) -> str:
    """groups.rs parse_context_id: base58 (a Hash), else 64 hex characters."""
    from .serdejson import b58encode, parse_hash

    try:
        return b58encode(parse_hash(text))
    except ValueError:
        pass
    raw = _hex_decodes(text)
    if raw is None:
        raise BadRequest(HttpResponse.error(400, "Invalid context id format: expected base58 or hex-encoded 32 bytes"))
    if len(raw) != 32:
        raise BadRequest(HttpResponse.error(400, "Invalid context id: must be exactly 32 bytes"))
    return b58encode(raw)


def path_context_id(text: str) -> str:
    """axum's `Path<ContextId>`: a serde error is a plain-text 400 `Invalid URL: ...`."""
    from .serdejson import SerdeError, b58encode, hash_from_serde

    try:
        return b58encode(hash_from_serde(text))
    except SerdeError as error:
        raise BadRequest(HttpResponse.text(400, f"Invalid URL: {error.message}")) from None


Handler = Callable[[HttpRequest, list[str]], HttpResponse]


class NodeApi:
    def __init__(self, node: Node) -> None:
        self.node = node
        # (method, pattern) -> handler; `:x` segments are parameters, as in merod's router
        self.routes: list[tuple[str, list[str], Handler]] = [
            ("GET", ["peers"], self._peers),
            ("GET", ["identity"], self._identity),
            ("GET", ["applications"], self._applications),
            ("POST", ["install-dev-application"], self._install),
            ("GET", ["namespaces"], self._namespaces),
            ("POST", ["namespaces"], self._create_namespace),
            ("GET", ["namespaces", ":id"], self._get_namespace),
            ("POST", ["namespaces", ":id", "invite"], self._invite),
            ("POST", ["namespaces", ":id", "join"], self._join_namespace),
            ("GET", ["contexts"], self._contexts),
            ("POST", ["contexts"], self._create_context),
            ("GET", ["contexts", ":id"], self._get_context),
            ("POST", ["contexts", ":id", "join"], self._join_context),
        ]

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if request.method == "OPTIONS":
            # merod's CORS layer answers a preflight itself; the auth guard lets OPTIONS through
            return HttpResponse.empty(200, CORS_HEADERS)
        auth = self.node.auth
        if auth is not None:
            routed = auth.route(request)
            if routed is not None:
                return routed
        if path in PUBLIC_ADMIN_ROUTES:
            return self._public(path) if request.method in ("GET", "HEAD") else HttpResponse.empty(405)
        if path == "/admin-dashboard" or path.startswith("/admin-dashboard/"):
            return HttpResponse(200, DASHBOARD_HTML, {"Content-Type": "text/html"})
        if path == "/metrics":
            return self._metrics()
        protected = path in ("/jsonrpc", "/ws", "/sse") or path.startswith("/admin-api/")
        if not protected or (path.startswith("/admin-api/") and self._route(request, path) is None):
            return HttpResponse.empty(404)  # axum's fallback: no route, so no guard either
        if auth is not None:
            denial = auth.guard(request)
            if denial is not None:
                return denial
        try:
            if path == "/jsonrpc":
                return self._jsonrpc(request) if request.method == "POST" else HttpResponse.empty(405)
            if path == "/ws":
                return HttpResponse.text(400, "Connection header did not include 'upgrade'")
            if path == "/sse":
                return HttpResponse(200, b": merod-sim event stream\n\n", {"Content-Type": "text/event-stream"})
            return self._admin(request, path)
        except BadRequest as refused:
            return refused.response

    def _public(self, path: str) -> HttpResponse:
        refused = self.node.faults.unhealthy_answer()
        if refused is not None:
            return refused
        if path == "/admin-api/ready":
            status = self.node.readiness()
            return HttpResponse.json(200 if status == "ready" else 503, {"data": {"status": status}})
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
    def _route(self, request: HttpRequest, path: str) -> tuple[Handler, list[str]] | tuple[None, None] | None:
        """The admin route for the path: (handler, parameters); (None, None) when the path is a
        route but not for this method; None when no route has this path."""
        parts = [unquote(part) for part in path.split("/")[2:]]  # after "/admin-api"
        path_matched = False
        for method, pattern, handler in self.routes:
            if len(pattern) != len(parts):
                continue
            if any(p != q and not p.startswith(":") for p, q in zip(pattern, parts)):
                continue
            path_matched = True
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                return handler, [q for p, q in zip(pattern, parts) if p.startswith(":")]
        return (None, None) if path_matched else None

    def _admin(self, request: HttpRequest, path: str) -> HttpResponse:
        found = self._route(request, path)
        if found is None:
            return HttpResponse.empty(404)
        handler, params = found
        if handler is None or params is None:
            return HttpResponse.empty(405)
        return handler(request, params)

    def _peers(self, _request: HttpRequest, _params: list[str]) -> HttpResponse:
        self.node.faults.before_peers_answer(self.node.log)
        return HttpResponse.json(200, {"count": len(self.node.swarm.peers())})

    def _identity(self, _request: HttpRequest, _params: list[str]) -> HttpResponse:
        keys = self.node.state.keys
        if keys is None:
            return HttpResponse.error(
                404,
                "this node holds neither a device nor an account root yet; both are minted the first time "
                "it takes part in a namespace",
            )
        return _data(keys.to_api())

    def _applications(self, _request: HttpRequest, _params: list[str]) -> HttpResponse:
        with self.node.state.lock:
            apps = [app.to_api() for app in self.node.state.applications.values()]
        return _data({"apps": apps})

    def _install(self, request: HttpRequest, _params: list[str]) -> HttpResponse:
        body = validated_json(request, types()["install"])
        if ".." in Path(body["path"]).parts:
            return HttpResponse.error(
                400, "Field 'path' has invalid format: path must not contain '..' traversal components"
            )
        try:
            path = Path(body["path"]).resolve(strict=True)
            if path.is_dir():
                return HttpResponse.text(500, "Is a directory (os error 21)")
        except (FileNotFoundError, NotADirectoryError):
            # the handler answers the error as a string: text/plain
            return HttpResponse.text(500, f"application file not found at {body['path']}")
        except OSError as error:
            return HttpResponse.text(500, str(error))
        app = self.node.state.install(path, body["metadata"], body["package"], body["version"])
        self.node.log.info(f"{TARGET}::admin::handlers::applications",
                           f"Dev application installed successfully application_id={app.id}")
        return _data({"applicationId": app.id})

    # -- namespaces -----------------------------------------------------------------------------
    def _namespaces(self, _request: HttpRequest, _params: list[str]) -> HttpResponse:
        node = self.node
        with node.state.lock:
            mine = [ns.to_api() for ns in node.state.namespaces.values() if node.member_namespace(ns.id)]
        return _data(mine)

    def _create_namespace(self, request: HttpRequest, _params: list[str]) -> HttpResponse:
        body = validated_json(request, types()["create_namespace"])
        from .serdejson import b58encode

        if body["appKey"] is not None and len(_hex_decodes(body["appKey"]) or b"") != 32:
            return HttpResponse.error(400, "Invalid appKey: expected hex-encoded 32 bytes")
        namespace = self.node.create_namespace(b58encode(body["applicationId"]), body["name"])
        if namespace is None:
            return HttpResponse.error(500, INTERNAL_ERROR)  # application not found
        return _data({"namespaceId": namespace.id})

    def _get_namespace(self, _request: HttpRequest, params: list[str]) -> HttpResponse:
        namespace_id = parse_group_id(params[0])
        namespace = self.node.member_namespace(namespace_id)
        if namespace is None:
            return HttpResponse.error(404, "No namespace identity found")
        with self.node.state.lock:
            return _data(namespace.to_api())

    def _invite(self, request: HttpRequest, params: list[str]) -> HttpResponse:
        namespace_id = parse_group_id(params[0])
        body = validated_json(request, types()["invite"])
        valid_for = body["expirationTimestamp"] or DEFAULT_INVITATION_SECS
        invitation = self.node.invitation(namespace_id, valid_for)
        if invitation is None:
            return HttpResponse.error(500, INTERNAL_ERROR)  # not a member, or may not invite
        if body["recursive"]:
            return _data({"invitations": [{"groupId": namespace_id, "invitation": invitation}]})
        return _data({"invitation": invitation})

    def _join_namespace(self, request: HttpRequest, params: list[str]) -> HttpResponse:
        namespace_id = parse_group_id(params[0])
        body = validated_json(request, types()["join_namespace"])
        invitation_group = body["invitation"]["invitation"]["group_id"]
        if invitation_group.hex() != namespace_id:
            return HttpResponse.error(400, "invitation group_id does not match namespace_id in path")
        try:
            raw = request.json()
            namespace = self.node.join_namespace(namespace_id, raw["invitation"])
        except JoinError as error:
            if error.timeout:
                return HttpResponse.error(504, JOIN_UNREACHABLE)
            return HttpResponse.error(500, INTERNAL_ERROR)
        keys = self.node.state.ensure_keys()
        return _data({"namespaceId": namespace.id, "memberIdentity": keys.public_key,
                      "memberAccount": keys.account_id})

    # -- contexts -------------------------------------------------------------------------------
    def _context_api(self, context_id: str, *, with_group: bool) -> dict[str, Any] | None:
        state = self.node.state
        with state.lock:
            context = state.contexts.get(context_id)
            if context is None:
                return None
            app = state.applications.get(context.application_id)
            data = context.to_api(app.version if app else None)
            if with_group:
                data["groupId"] = context.namespace_id
            return data

    def _contexts(self, _request: HttpRequest, _params: list[str]) -> HttpResponse:
        with self.node.state.lock:
            ids = list(self.node.state.contexts)
        contexts = [self._context_api(context_id, with_group=True) for context_id in ids]
        return _data({"contexts": [c for c in contexts if c is not None]})

    def _get_context(self, _request: HttpRequest, params: list[str]) -> HttpResponse:
        data = self._context_api(path_context_id(params[0]), with_group=False)
        if data is None:
            return HttpResponse.error(404, "Context not found")
        return _data(data)

    def _create_context(self, request: HttpRequest, _params: list[str]) -> HttpResponse:
        from . import kvstore
        from .serdejson import b58encode

        body = validated_json(request, types()["create_context"])
        if len(body["initializationParams"]) > 10 * 1024 * 1024:
            return HttpResponse.error(400, "Field 'initialization_params' exceeds maximum size of 10485760 bytes "
                                           f"(got {len(body['initializationParams'])})")
        namespace_id = parse_group_id(body["groupId"], in_body=True)
        if body["identitySecret"] is not None:
            secret = _hex_decodes(body["identitySecret"])
            if secret is None:
                return HttpResponse.error(400, "Invalid identity_secret: expected hex-encoded 32 bytes")
            if len(secret) != 32:
                return HttpResponse.error(400, "Invalid identity_secret: must be exactly 32 bytes")
        namespace = self.node.member_namespace(namespace_id)
        application_id = b58encode(body["applicationId"])
        if namespace is None or application_id not in self.node.state.applications:
            return HttpResponse.error(500, INTERNAL_ERROR)
        try:  # the application's init runs with the initialization params as its input
            kvstore.decode_args("init", kvstore.METHODS["init"], bytes(body["initializationParams"]))
        except kvstore.GuestError as error:
            return HttpResponse.error(400, f"application initialization failed: {error}")
        context = self.node.create_context(application_id, namespace)
        if context is None:
            return HttpResponse.error(500, INTERNAL_ERROR)
        return _data({"contextId": context.id, "memberPublicKey": context.member_public_key,
                      "groupId": namespace.id, "groupCreated": False})

    def _join_context(self, _request: HttpRequest, params: list[str]) -> HttpResponse:
        context_id = parse_context_id(params[0])
        context = self.node.join_context(context_id)
        if context is None:
            # "context does not belong to any group", after GROUP_LOOKUP_TIMEOUT: untyped, so 500
            return HttpResponse.error(500, INTERNAL_ERROR)
        return _data({"contextId": context.id, "memberPublicKey": context.member_public_key})

    # -- JSON-RPC -------------------------------------------------------------------------------
    def _jsonrpc(self, request: HttpRequest) -> HttpResponse:
        from . import serdejson

        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if not content_type.endswith("json"):
            return HttpResponse.text(415, "Expected request with `Content-Type: application/json`")
        try:
            document = serdejson.parse(request.body)
            request_id = self._envelope(document)
        except serdejson.JsonSyntaxError as error:
            return HttpResponse.text(400, f"Failed to parse the request body as JSON: {error.render(request.body)}")
        except serdejson.SerdeError as error:
            return HttpResponse.text(
                422, f"Failed to deserialize the JSON body into the target type: {error.render(request.body)}"
            )
        body = document.plain()
        try:
            result = self._dispatch(body)
        except serdejson.SerdeError as error:
            result = {"error": {"type": "ParseError", "data": error.message}}
        return HttpResponse.json(200, {"jsonrpc": "2.0", "id": request_id, **result})

    @staticmethod
    def _envelope(document: Any) -> Any:
        """`Request<Value>`: `jsonrpc` must be "2.0" and `id` a string, a u64 or null; the rest
        is the payload (serde(flatten)). Returns the id."""
        from .serdejson import STRING, Deserializer, SerdeError, unexpected

        if document.kind != "object":
            raise SerdeError(f"invalid type: {unexpected(document)}, expected struct Request",
                             document.start if document.kind in ("array", "object") else document.end)
        seen: dict[str, Any] = {}
        for member in document.value:
            if member.key not in ("jsonrpc", "id"):
                continue
            if member.key in seen:
                raise SerdeError(f"duplicate field `{member.key}`", member.key_end)
            node = member.value
            if member.key == "jsonrpc":
                if Deserializer().value(node, STRING) != "2.0":
                    raise SerdeError("Invalid JSON-RPC version", node.end)
                seen["jsonrpc"] = "2.0"
                continue
            valid = node.kind in ("string", "null") or (
                node.kind == "number" and node.integer and 0 <= node.value < 2**64)
            if not valid:
                end = node.end
                raise SerdeError("data did not match any variant of untagged enum RequestId", end)
            seen["id"] = node.value
        for name in ("jsonrpc", "id"):
            if name not in seen:
                raise SerdeError(f"missing field `{name}`", document.end)
        return seen["id"]

    def _dispatch(self, body: dict[str, Any]) -> dict[str, Any]:
        """RequestPayload: tagged by `method`, its content in `params`."""
        from .serdejson import SerdeError, deserialize_value, one_of

        if "method" not in body:
            raise SerdeError("missing field `method`")
        method = body["method"]
        if not isinstance(method, str):
            from .serdejson import from_plain, unexpected

            raise SerdeError(f"invalid type: {unexpected(from_plain(method))}, expected variant identifier")
        if method not in JSONRPC_METHODS:
            raise SerdeError(f"unknown variant `{method}`, expected {one_of(JSONRPC_METHODS)}")
        if "params" not in body:
            raise SerdeError("missing field `params`")
        params = deserialize_value(body["params"], types()[method])
        from .serdejson import b58encode

        context_id = b58encode(params["contextId"])
        if method == "execute":
            return self._execute(context_id, params["method"], params["argsJson"])
        if method == "sync_status":
            return self._sync_status(context_id)
        return self._set_ephemeral(context_id, params["state"])

    def _execute(self, context_id: str, method: str, args: Any) -> dict[str, Any]:
        from . import kvstore

        problem = None
        if not method:
            problem = "Field 'method' is required but was empty"
        elif len(method.encode()) > MAX_METHOD_NAME_LENGTH:
            problem = (f"Field 'method' exceeds maximum length of {MAX_METHOD_NAME_LENGTH} characters "
                       f"(got {len(method.encode())})")
        else:
            control = next((c for c in method if ord(c) < 0x20 or ord(c) == 0x7F), None)
            if control is not None:
                escaped = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}.get(control, f"\\u{{{ord(control):x}}}")
                problem = (f"Field 'method' has invalid format: contains control character '{escaped}' "
                           "which is not allowed")
        if problem is not None:
            return {"error": {"type": "ParseError", "data": problem}}
        node = self.node
        with node.state.lock:
            context = node.state.contexts.get(context_id)
            if context is None:
                # the executor is the node's own identity in the context: it has none here
                return {"error": {"type": "FunctionCallError", "data": "No owned identity found for this context"}}
            if not context.initialized:
                return {"error": {"type": "Uninitialized"}}
            try:
                outcome = kvstore.call(method, args, context.read, context.live)
            except kvstore.GuestError as error:
                return {"error": {"type": "FunctionCallError", "data": str(error)}}
            propagation = node.record_write(context, outcome.writes) if outcome.writes else None
        if propagation is not None:
            node.swarm.broadcast(propagation)
        return {"result": {"output": outcome.output}}

    def _sync_status(self, context_id: str) -> dict[str, Any]:
        node = self.node
        with node.state.lock:
            context = node.state.contexts.get(context_id)
            if context is None:
                return {"error": {"type": "ContextNotFound"}}
            result = {"contextId": context_id, "isInitialized": context.initialized,
                      "syncState": {"state": node.sync_phase(context)}, "failureCount": 0}
        return {"result": result}

    def _set_ephemeral(self, context_id: str, state: list[int]) -> dict[str, Any]:
        if len(state) > EPHEMERAL_MAX_BYTES:
            return {"error": {"type": "SliceTooLarge", "data": {"size": len(state), "max": EPHEMERAL_MAX_BYTES}}}
        if context_id not in self.node.state.contexts:
            return {"error": {"type": "NoOwnedIdentity"}}
        return {"result": {}}
