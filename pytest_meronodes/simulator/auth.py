"""merod's auth (embedded mode) and the mero-auth service (proxy mode): accounts, tokens,
refresh, validation and the guard in front of protected routes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import jwt
from .http_types import CORS_HEADERS, HttpRequest, HttpResponse
from .logs import Logger
from .nodeconfig import write_atomic

TARGET = "calimero_auth"
ISSUER = "calimero-auth"
ADMIN_FILE = "admin.json"
SECRET_FILE = "jwt_secret"  # noqa: S105 (a file name, not a secret)
MIN_PASSWORD, MAX_PASSWORD = 8, 128
# a refresh is accepted only when the access token expires within this many seconds
REFRESH_LEEWAY = 60
FAILED_LOGINS_PER_MINUTE = 20


class AuthSetupError(Exception):
    """Embedded auth cannot be set up as asked (missing admin, bad password)."""


@dataclass(frozen=True)
class AdminAccount:
    username: str
    salt: str
    password_hash: str
    iterations: int = 100_000

    @classmethod
    def create(cls, username: str, password: str) -> AdminAccount:
        if not username:
            raise AuthSetupError("admin user name must not be empty")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AuthSetupError(
                f"admin password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
            )
        salt = secrets.token_hex(16)
        return cls(username, salt, cls._hash(password, salt, cls.iterations), cls.iterations)

    @staticmethod
    def _hash(password: str, salt: str, iterations: int) -> str:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()

    def verify(self, username: str, password: str) -> bool:
        candidate = self._hash(password, self.salt, self.iterations)
        return username == self.username and hmac.compare_digest(candidate, self.password_hash)

    def save(self, directory: Path) -> None:
        write_atomic(directory / ADMIN_FILE, json.dumps(asdict(self)).encode())

    @classmethod
    def load(cls, directory: Path) -> AdminAccount | None:
        try:
            data = json.loads((directory / ADMIN_FILE).read_text())
        except FileNotFoundError:
            return None
        return cls(**data)


def admin_from_env() -> tuple[str, str] | None:
    user = os.environ.get("MERO_AUTH_ADMIN_USER")
    password = os.environ.get("MERO_AUTH_ADMIN_PASSWORD")
    return (user, password) if user and password else None


def load_or_create_secret(directory: Path) -> bytes:
    path = directory / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        write_atomic(path, secret.hex().encode())
        return secret


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a request's token: allowed (with the user) or a response."""

    user: str | None
    permissions: tuple[str, ...]
    denial: HttpResponse | None


def _auth_error(status: int, code: str) -> HttpResponse:
    body = b"" if status == 401 else json.dumps({"error": code}).encode()
    headers = {"X-Auth-Error": code}
    if body:
        headers["Content-Type"] = "application/json"
    return HttpResponse(status, body, headers)


def _envelope(status: int, data: Any = None, error: str | None = None) -> HttpResponse:
    return HttpResponse.json(status, {"data": data, "error": error})


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
        self._used_refresh: set[str] = set()
        self._revoked: set[str] = set()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    # -- tokens ---------------------------------------------------------------------------------
    def _mint(self, user: str, permissions: list[str], node_url: str) -> dict[str, str]:
        now = int(self.clock())
        pair = {}
        for token_type, lifetime in (("access", self.access_expiry), ("refresh", self.refresh_expiry)):
            claims = {
                "sub": user,
                "iss": ISSUER,
                "aud": ISSUER,
                "iat": now,
                "exp": now + lifetime,
                "jti": secrets.token_hex(16),
                "token_type": token_type,
                "permissions": permissions,
                "node_url": node_url,
            }
            pair[f"{token_type}_token"] = jwt.encode(claims, self.secret)
        return pair

    def _claims(self, token: str) -> dict[str, Any] | None:
        try:
            claims = jwt.decode(token, self.secret)
        except jwt.InvalidToken:
            return None
        if claims.get("iss") != ISSUER or claims.get("aud") != ISSUER:
            return None
        return claims

    # -- routes ---------------------------------------------------------------------------------
    def route(self, request: HttpRequest) -> HttpResponse | None:
        """Answer /auth/* requests; None for paths that are not the auth service's."""
        path = request.path.rstrip("/")
        if not path.startswith("/auth"):
            return None
        if request.method == "OPTIONS":
            return HttpResponse(204, b"", dict(CORS_HEADERS))
        if path == "/auth/health" and request.method == "GET":
            uptime = int(self.clock() - self.started)
            return _envelope(200, {"status": "alive", "storage": True, "uptime_seconds": uptime})
        if path == "/auth/providers" and request.method == "GET":
            provider = {
                "name": "user_password",
                "type": "user_password",
                "description": "Username and password",
                "configured": self.admin is not None,
            }
            return _envelope(200, {"providers": [provider], "count": 1})
        if path == "/auth/token" and request.method == "POST":
            return self._token(request)
        if path == "/auth/refresh" and request.method == "POST":
            return self._refresh(request)
        if path == "/auth/validate" and request.method in ("GET", "POST", "HEAD"):
            return self.validate(request)
        return _envelope(404, error="not found")

    def _token(self, request: HttpRequest) -> HttpResponse:
        try:
            body = request.json()
            method = body["auth_method"]
            client_name = body["client_name"]
            int(body["timestamp"])
            provider_data = body["provider_data"]
            username, password = provider_data["username"], provider_data["password"]
            permissions = list(body.get("permissions") or ["admin"])
            if not all(isinstance(p, str) for p in permissions) or not isinstance(client_name, str):
                raise TypeError("permissions and client_name must be strings")
        except (ValueError, KeyError, TypeError) as error:
            return _envelope(400, error=f"invalid token request: {error}")
        if method != "user_password":
            return _envelope(400, error=f"unsupported auth method: {method}")
        if self._rate_limited(request.client_ip):
            return _envelope(429, error="too many failed attempts")
        if self.admin is None or not self.admin.verify(str(username), str(password)):
            self._failures[request.client_ip].append(self.clock())
            self.log.warn(TARGET, f"failed login for user {username!r}")
            return _envelope(401, error="Invalid credentials")
        self.log.info(TARGET, f"issued tokens to {username!r} for {client_name}")
        return _envelope(200, self._mint(self.admin.username, permissions, client_name))

    def _rate_limited(self, client_ip: str) -> bool:
        window = self._failures[client_ip]
        while window and window[0] < self.clock() - 60:
            window.popleft()
        return len(window) >= FAILED_LOGINS_PER_MINUTE

    def _refresh(self, request: HttpRequest) -> HttpResponse:
        try:
            body = request.json()
            access = self._claims(str(body["access_token"]))
            refresh = self._claims(str(body["refresh_token"]))
        except (ValueError, KeyError, TypeError):
            return _envelope(400, error="invalid refresh request")
        now = self.clock()
        if not access or not refresh or refresh.get("token_type") != "refresh":
            return _envelope(401, error="invalid_token")
        if access.get("sub") != refresh.get("sub"):
            return _envelope(401, error="invalid_token")
        if refresh["exp"] <= now:
            return _envelope(401, error="token_expired")
        with self._lock:
            if refresh["jti"] in self._used_refresh:
                return _envelope(401, error="token_reuse")
            if access["exp"] - now > REFRESH_LEEWAY:
                return _envelope(401, error="Access token still valid")
            self._used_refresh.add(refresh["jti"])
            self._revoked.add(access["jti"])
        return _envelope(
            200, self._mint(refresh["sub"], list(refresh["permissions"]), refresh["node_url"])
        )

    # -- checks ---------------------------------------------------------------------------------
    def check(self, request: HttpRequest, required: str | None = None) -> Verdict:
        token = self._token_of(request)
        if token is None:
            return Verdict(None, (), _auth_error(401, "missing_token"))
        claims = self._claims(token)
        if claims is None or claims.get("token_type") != "access":
            return Verdict(None, (), _auth_error(401, "invalid_token"))
        if claims.get("exp", 0) <= self.clock():
            return Verdict(None, (), _auth_error(401, "token_expired"))
        if claims.get("jti") in self._revoked:
            return Verdict(None, (), _auth_error(403, "token_revoked"))
        node_url = str(claims.get("node_url") or "")
        expected_host = urlsplit(node_url).hostname if "://" in node_url else None
        if expected_host and expected_host.lower() != request.host():
            return Verdict(None, (), _auth_error(401, "invalid_token"))
        permissions = tuple(str(p) for p in claims.get("permissions") or ())
        if required and "admin" not in permissions and required not in permissions:
            return Verdict(None, (), _auth_error(403, "permission_denied"))
        return Verdict(str(claims["sub"]), permissions, None)

    def validate(self, request: HttpRequest) -> HttpResponse:
        """Forward-auth: a proxy asks whether the request it holds may pass."""
        if (request.header("x-forwarded-method") or "").upper() == "OPTIONS":
            return HttpResponse(200, b"", {})  # CORS preflight is never blocked
        verdict = self.check(request, required=None)
        if verdict.denial is not None:
            return verdict.denial
        headers = {"X-Auth-User": verdict.user or "", "X-Auth-Permissions": ",".join(verdict.permissions)}
        return HttpResponse(200, b"", headers)

    @staticmethod
    def _token_of(request: HttpRequest) -> str | None:
        header = request.header("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            return value.strip() if scheme.lower() == "bearer" and value.strip() else None
        query = request.query
        forwarded = request.header("x-forwarded-uri")
        if forwarded and "token" not in query:
            query = parse_qs(urlsplit(forwarded).query)
        tokens = query.get("token")
        return tokens[0] if tokens else None
