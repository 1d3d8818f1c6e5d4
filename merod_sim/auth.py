"""merod's embedded auth and the mero-auth service (crates/auth): the admin account, tokens,
refresh, forward-auth validation, and the guard merod puts in front of its protected routes
(crates/server/src/auth.rs). Answers follow those crates; the recordings in docs/simulator.md
confirm the ones the plugin sees."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import jwt
from .http_types import HttpRequest, HttpResponse
from .logs import Logger
from .nodeconfig import write_atomic

TARGET = "mero_auth"
ISSUER = "calimero-auth"
ADMIN_FILE = "admin.json"
SECRET_FILE = "jwt_secret"  # noqa: S105 (a file name, not a secret)
MIN_PASSWORD, MAX_PASSWORD = 8, 128
# jsonwebtoken's default leeway is 60 s in merod; the simulator uses none so that tests with
# one-second tokens see them expire (and refresh) in seconds. Bearer checks and the refresh
# policy share the value, as they do in merod, so they never disagree.
EXPIRY_LEEWAY = 0
# crates/auth/src/auth/rate_limit.rs: 5 failed logins per identity within 60 s, then 429
MAX_FAILED_LOGINS, FAILED_LOGIN_WINDOW = 5, 60.0
ADMIN_PERMISSIONS = ("admin",)
ADMIN_USER_ENV, ADMIN_PASSWORD_ENV, ADMIN_PASSWORD_FILE_ENV = (
    "MERO_AUTH_ADMIN_USER", "MERO_AUTH_ADMIN_PASSWORD", "MERO_AUTH_ADMIN_PASSWORD_FILE",
)


class AuthSetupError(Exception):
    """Embedded auth cannot be set up as asked (missing admin, bad password)."""


def validate_admin(username: str, password: str) -> None:
    """mero_auth::provisioning::validate_admin_credentials, with the default password policy."""
    if not username:
        raise AuthSetupError("admin username must not be empty")
    length = len(password)
    if length < MIN_PASSWORD:
        raise AuthSetupError(f"Password must be at least {MIN_PASSWORD} characters long")
    if length > MAX_PASSWORD:
        raise AuthSetupError(f"Password must be at most {MAX_PASSWORD} characters long")


@dataclass(frozen=True)
class AdminAccount:
    username: str
    salt: str
    password_hash: str
    iterations: int = 100_000

    @classmethod
    def create(cls, username: str, password: str) -> AdminAccount:
        validate_admin(username, password)
        salt = secrets.token_hex(16)
        return cls(username, salt, cls._hash(password, salt, cls.iterations), cls.iterations)

    @staticmethod
    def _hash(password: str, salt: str, iterations: int) -> str:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()

    def verify(self, username: str, password: str) -> bool:
        candidate = self._hash(password, self.salt, self.iterations)
        return username == self.username and hmac.compare_digest(candidate, self.password_hash)

    @property
    def key_id(self) -> str:
        """The root key's id, the tokens' `sub` (mero-auth derives it from the credentials)."""
        return hashlib.sha256(f"{self.username}\0{self.password_hash}".encode()).hexdigest()

    def save(self, directory: Path) -> None:
        write_atomic(directory / ADMIN_FILE, json.dumps(asdict(self)).encode())

    @classmethod
    def load(cls, directory: Path) -> AdminAccount | None:
        try:
            data = json.loads((directory / ADMIN_FILE).read_text())
        except FileNotFoundError:
            return None
        return cls(**data)


def _password_from_env() -> str | None:
    path = os.environ.get(ADMIN_PASSWORD_FILE_ENV)
    if path:
        try:
            raw = Path(path).read_text()
        except OSError as error:
            raise AuthSetupError(f"failed to read {ADMIN_PASSWORD_FILE_ENV}={path}: {error.strerror}") from None
        password = strip_trailing_newline(raw)
        if password:
            return password
    return os.environ.get(ADMIN_PASSWORD_ENV) or None


def strip_trailing_newline(value: str) -> str:
    if value.endswith("\n"):
        value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
    return value


def admin_from_env() -> tuple[str, str] | None:
    """mero_auth::provisioning::admin_creds_from_env."""
    user = os.environ.get(ADMIN_USER_ENV) or None
    password = _password_from_env()
    if user and password:
        return user, password
    if user:
        raise AuthSetupError(
            f"{ADMIN_USER_ENV} is set but no password was provided; set {ADMIN_PASSWORD_ENV} or "
            f"{ADMIN_PASSWORD_FILE_ENV}"
        )
    if password:
        raise AuthSetupError(
            f"an admin password is set ({ADMIN_PASSWORD_ENV} or {ADMIN_PASSWORD_FILE_ENV}) but "
            f"{ADMIN_USER_ENV} is not; set it or unset the password"
        )
    return None


def load_or_create_secret(directory: Path) -> bytes:
    path = directory / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        write_atomic(path, secret.hex().encode())
        return secret


class TokenError(Exception):
    """mero-auth's AuthError, as far as a token check goes: `kind` picks the answer."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # expired | revoked | invalid | request
        self.message = message


def _envelope(status: int, data: Any = None, error: str | None = None,
              headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse.json(status, {"data": data, "error": error}, headers)


class AuthService:
    def __init__(
        self,
        *,
        secret: bytes,
        admin: AdminAccount | None,
        access_expiry: int,
        refresh_expiry: int,
        log: Logger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.admin = admin
        self.access_expiry = access_expiry
        self.refresh_expiry = refresh_expiry
        self.log = log
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._consumed_refresh: set[str] = set()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    # -- tokens ---------------------------------------------------------------------------------
    def _mint(self, key_id: str, permissions: list[str], node_url: str | None) -> dict[str, Any]:
        now = int(self.clock())
        pair: dict[str, Any] = {}
        for token_type, lifetime in (("access", self.access_expiry), ("refresh", self.refresh_expiry)):
            claims: dict[str, Any] = {
                "sub": key_id, "iss": ISSUER, "aud": ISSUER, "exp": now + lifetime, "iat": now,
                "jti": str(uuid.uuid4()), "token_type": token_type, "permissions": permissions,
            }
            if node_url is not None:
                claims["node_url"] = node_url
            pair[f"{token_type}_token"] = jwt.encode(claims, self.secret)
        pair["error"] = None
        return pair

    def decode(self, token: str, token_type: str, *, check_expiry: bool = True) -> dict[str, Any]:
        """TokenManager::decode_with_secrets + ensure_token_type."""
        try:
            claims = jwt.decode(token, self.secret)
        except jwt.InvalidToken as error:
            raise TokenError("invalid", str(error)) from None
        if check_expiry and int(claims.get("exp", 0)) + EXPIRY_LEEWAY < self.clock():
            raise TokenError("expired", "Token has expired")
        if claims.get("iss") != ISSUER:
            raise TokenError("invalid", "InvalidIssuer")
        if claims.get("aud") != ISSUER:
            raise TokenError("invalid", "InvalidAudience")
        if claims.get("token_type") != token_type:
            expected, got = token_type.capitalize(), str(claims.get("token_type")).capitalize()
            raise TokenError("invalid", f"Wrong token type: expected {expected}, got {got}")
        return claims

    @staticmethod
    def host_problem(node_url: str, request: HttpRequest) -> str | None:
        """TokenManager::validate_node_host: a node-bound token only for the host it names."""
        request_host = request.header("x-forwarded-host") or request.header("host")
        if not request_host or not request_host.strip():
            return ("Token is node-bound but the request carries no Host or X-Forwarded-Host header to "
                    "validate against")
        if request_host == "auth" or (request_host.startswith("auth:") and request_host[5:].isdigit()):
            return None  # the internal auth service
        token_host = urlsplit(node_url).hostname if "://" in node_url else None
        if token_host is None:
            return None
        without_port = request_host.split(":")[0].lower()
        if token_host.lower() not in (without_port, request_host.lower()):
            return (f"Token is not valid for this host. Token is for '{token_host.lower()}' but request is to "
                    f"'{request_host}'")
        return None

    def verify(self, token: str, request: HttpRequest) -> dict[str, Any]:
        """verify_token_string: an access token, valid for the host it is used on."""
        if not token:
            raise TokenError("request", "Empty token provided")
        claims = self.decode(token, "access")
        node_url = claims.get("node_url")
        if isinstance(node_url, str):
            problem = self.host_problem(node_url, request)
            if problem is not None:
                raise TokenError("invalid", problem)
        if self.admin is None or claims.get("sub") != self.admin.key_id:
            raise TokenError("invalid", "Key not found")
        return claims

    # -- merod's guard --------------------------------------------------------------------------
    def guard(self, request: HttpRequest) -> HttpResponse | None:
        """AuthGuardService: None lets the request through, else merod's bare refusal."""
        header = request.header("authorization")
        try:
            if header is not None:
                if not header.startswith("Bearer "):
                    raise TokenError("request", "Invalid Authorization header format. Expected 'Bearer <token>'")
                claims = self.verify(header[len("Bearer "):].strip(), request)
            else:
                token = next((value for key, value in (pair.partition("=")[::2] for pair in _raw_query(request))
                              if key == "token"), None)
                if token is None:
                    return HttpResponse.empty(401)
                claims = self.verify(token, request)
        except TokenError as error:
            if error.kind == "expired":
                return HttpResponse.empty(401, {"X-Auth-Error": "token_expired"})
            if error.kind == "revoked":
                return HttpResponse.empty(403, {"X-Auth-Error": "token_revoked"})
            return HttpResponse.empty(401)
        if "admin" not in claims.get("permissions", []):
            return HttpResponse.empty(403, {"X-Auth-Error": "permission_denied"})
        return None

    # -- the auth service's routes ----------------------------------------------------------------
    def route(self, request: HttpRequest) -> HttpResponse | None:
        """/auth/* (public) and /admin/* (mero-auth's own, token-guarded); None for other paths."""
        path = request.path
        if path.startswith("/admin/") or path == "/admin":
            return self._admin(request)
        if not path.startswith("/auth/"):
            return None
        routes: dict[str, tuple[tuple[str, ...], Callable[[HttpRequest], HttpResponse]]] = {
            "/auth/health": (("GET",), self._health),
            "/auth/providers": (("GET",), self._providers),
            "/auth/token": (("POST",), self._token),
            "/auth/refresh": (("POST",), self._refresh),
            "/auth/validate": (("GET", "POST"), self.validate),
            "/auth/login": (("GET",), self._login),
        }
        found = routes.get(path)
        if found is None:
            return HttpResponse.empty(404)
        methods, handler = found
        if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
            return HttpResponse.empty(405)
        return handler(request)

    def _health(self, _request: HttpRequest) -> HttpResponse:
        uptime = int(self.clock() - self.started)
        return _envelope(200, {"status": "alive", "storage": True, "uptime_seconds": uptime})

    def _providers(self, _request: HttpRequest) -> HttpResponse:
        provider = {
            "name": "user_password",
            "type": "credentials",
            "description": "Authenticates users with username and password credentials",
            "configured": self.admin is not None,
            "config": {"enabled": True, "description": "Username and password authentication"},
        }
        return _envelope(200, {"providers": [provider], "count": 1})

    @staticmethod
    def _login(_request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, b"<html><body><h1>merod-sim login</h1></body></html>",
                            {"Content-Type": "text/html"})

    def _json_body(self, request: HttpRequest, kind: Any) -> dict[str, Any] | HttpResponse:
        """mero-auth's ValidatedJson: a rejection is `{"error": ..., "status": 400}`."""
        from . import serdejson

        try:
            return serdejson.deserialize_body(request.body, kind)
        except serdejson.JsonSyntaxError as error:
            message = f"Failed to parse the request body as JSON: {error.render(request.body)}"
        except serdejson.SerdeError as error:
            message = ("Failed to deserialize the JSON body into the target type: "
                       + error.render_with_path(request.body))
        return HttpResponse.json(400, {"error": f"Invalid JSON: {message}", "status": 400})

    def _rate_limited(self, key: str) -> bool:
        window = self._failures[key]
        while window and window[0] < self.clock() - FAILED_LOGIN_WINDOW:
            window.popleft()
        return len(window) >= MAX_FAILED_LOGINS

    def _token(self, request: HttpRequest) -> HttpResponse:
        from . import serdejson as s

        kind = s.Struct("BaseTokenRequest", (
            ("auth_method", s.STRING), ("public_key", s.STRING), ("client_name", s.STRING),
            ("permissions", s.Opt(s.Seq(s.STRING))), ("timestamp", s.U64), ("provider_data", s.ANY),
        ))
        body = self._json_body(request, kind)
        if isinstance(body, HttpResponse):
            return body
        for name, what in (("auth_method", "Authentication method"), ("public_key", "Public key"),
                           ("client_name", "Client name")):
            if not body[name]:
                return HttpResponse.json(422, {"error": f"Validation error: {name}: {what} is required", "status": 422})
        limiter_key = f"{len(body['auth_method'])}|{body['auth_method']}|{len(body['public_key'])}|{body['public_key']}"
        method = "".join(c for c in body["auth_method"] if c.isalnum() or c in "-_")
        client_name = "".join(c for c in body["client_name"] if c.isascii() and c.isprintable())
        if not method:
            return _envelope(400, error="Authentication method must contain valid characters")
        if not client_name:
            return _envelope(400, error="Client name cannot be empty after sanitization")
        with self._lock:
            if self._rate_limited(limiter_key):
                self._failures[limiter_key].append(self.clock())
                return _envelope(429, error="Too many failed login attempts; please try again later",
                                 headers={"Retry-After": "60"})
        problem = self._authenticate(method, body["provider_data"])
        if problem is not None:
            with self._lock:
                self._failures[limiter_key].append(self.clock())
            self.log.error("mero_auth::api::handlers::auth", f"Authentication failed: {problem}")
            return _envelope(401, error=f"Authentication failed: {problem}")
        with self._lock:
            self._failures.pop(limiter_key, None)
        assert self.admin is not None
        return _envelope(200, self._mint(self.admin.key_id, list(ADMIN_PERMISSIONS), client_name))

    def _authenticate(self, method: str, provider_data: Any) -> str | None:
        """The user_password provider: None when the credentials are the admin's."""
        if method not in ("user_password", "username_password"):
            return f"Invalid request: Unsupported authentication method: {method}"
        if not isinstance(provider_data, dict):
            return "Invalid request: Invalid username/password data: invalid type: expected struct UserPasswordRequest"
        for name in ("username", "password"):
            if not isinstance(provider_data.get(name), str):
                return f"Invalid request: Invalid username/password data: missing field `{name}`"
        username, password = provider_data["username"], provider_data["password"]
        if len(password) > MAX_PASSWORD:
            return f"Authentication failed: Password must be at most {MAX_PASSWORD} characters long"
        if self.admin is None or not self.admin.verify(username, password):
            return "Authentication failed: Invalid username or password"
        return None

    def _refresh(self, request: HttpRequest) -> HttpResponse:
        from . import serdejson as s

        body = self._json_body(request, s.Struct("RefreshTokenRequest", (
            ("access_token", s.STRING), ("refresh_token", s.STRING))))
        if isinstance(body, HttpResponse):
            return body
        try:
            access = self.decode(body["access_token"], "access", check_expiry=False)
        except TokenError as error:
            return _envelope(401, error=f"Invalid access token: {error.message}")
        if int(access["exp"]) + EXPIRY_LEEWAY >= self.clock():
            return _envelope(401, error="Access token still valid")
        try:
            refresh = self.decode(body["refresh_token"], "refresh")
        except TokenError as error:
            return _envelope(401, error=f"Invalid refresh token: {error.message}")
        if access.get("sub") != refresh.get("sub"):
            return _envelope(401, error="Access and refresh tokens do not belong to the same subject")
        node_url = refresh.get("node_url")
        if isinstance(node_url, str):
            problem = self.host_problem(node_url, request)
            if problem is not None:
                return _envelope(403, error=problem, headers={"X-Auth-Error": "invalid_node"})
        with self._lock:
            if refresh["jti"] in self._consumed_refresh:
                return _envelope(401, error="Refresh token reuse detected; re-authentication required",
                                 headers={"X-Auth-Error": "token_reuse"})
            if self.admin is None or refresh.get("sub") != self.admin.key_id:
                return _envelope(500, error="Failed to refresh token: Invalid token: Key not found: "
                                            + str(refresh.get("sub")))
            self._consumed_refresh.add(refresh["jti"])
        return _envelope(200, self._mint(str(refresh["sub"]), list(refresh["permissions"]),
                                         node_url if isinstance(node_url, str) else None))

    def validate(self, request: HttpRequest) -> HttpResponse:
        """Forward-auth (validate_handler): the proxy asks whether the request it holds may pass."""
        header = request.header("authorization")
        token = header[len("Bearer "):].strip() if header and header.startswith("Bearer ") else None
        if token is None:
            forwarded = request.header("x-forwarded-uri") or ""
            query = forwarded.split("?", 1)[1] if "?" in forwarded else ""
            token = next((param[6:] for param in query.split("&") if param.startswith("token=")), None)
        if token is None:
            return _envelope(401, error="No token provided", headers={"X-Auth-Error": "missing_token"})
        try:
            claims = self.decode(token, "access")
        except TokenError as error:
            code = {"expired": "token_expired", "revoked": "token_revoked"}.get(error.kind, "invalid_token")
            return _envelope(401, error=f"Invalid token: {error.message}", headers={"X-Auth-Error": code})
        node_url = claims.get("node_url")
        if isinstance(node_url, str):
            problem = self.host_problem(node_url, request)
            if problem is not None:
                return _envelope(403, error=problem, headers={"X-Auth-Error": "invalid_node"})
        if self.admin is None or claims.get("sub") != self.admin.key_id:
            return _envelope(401, error="Key not found", headers={"X-Auth-Error": "invalid_token"})
        headers = {"X-Auth-User": str(claims["sub"])}
        if claims.get("permissions"):
            headers["X-Auth-Permissions"] = ",".join(claims["permissions"])
        return _envelope(200, "", headers=headers)

    def _admin(self, request: HttpRequest) -> HttpResponse:
        """mero-auth's protected /admin routes: its middleware, then the identity route."""
        header = request.header("authorization")
        try:
            if header is None:
                raise TokenError("request", "Missing Authorization header")
            if not header.startswith("Bearer "):
                raise TokenError("request", "Invalid Authorization header format. Expected 'Bearer <token>'")
            claims = self.verify(header[len("Bearer "):].strip(), request)
        except TokenError as error:
            status, code = {"expired": (401, "token_expired"), "revoked": (403, "token_revoked"),
                            "request": (400, "invalid_request")}.get(error.kind, (401, "invalid_token"))
            return HttpResponse.empty(status, {"X-Auth-Error": code})
        headers = {"X-Auth-User": str(claims["sub"]), "X-Auth-Permissions": ",".join(claims["permissions"])}
        if request.path == "/admin/identity" and request.method == "GET":
            identity = {"service": "calimero-auth", "version": "0.11.0-rc.25", "authentication_mode": "forward",
                        "providers": ["user_password"]}
            return _envelope(200, identity, headers=headers)
        return HttpResponse.empty(404, headers)


def _raw_query(request: HttpRequest) -> list[str]:
    """The query string's `key=value` pairs, undecoded (merod's guard splits the raw query)."""
    pairs: list[str] = []
    for key, values in request.query.items():
        pairs.extend(f"{key}={value}" for value in values)
    return pairs
