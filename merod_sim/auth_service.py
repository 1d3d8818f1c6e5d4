"""`merod-sim auth`: the standalone auth service that plays mero-auth behind Traefik's
forward-auth (`/auth/*`, `/auth/validate`, `/admin/*`)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType

from .auth import AdminAccount, AuthService, AuthSetupError, admin_from_env, strip_trailing_newline
from .errors import CliError
from .http_types import CORS_HEADERS, HttpRequest, HttpResponse
from .logs import Logger
from .web import HttpServers

TARGET = "mero_auth"


class AuthServiceApp:
    def __init__(self, service: AuthService) -> None:
        self.service = service

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return HttpResponse.empty(200, CORS_HEADERS)
        routed = self.service.route(request)
        return routed if routed is not None else HttpResponse.empty(404)


def serve(args: argparse.Namespace, log: Logger) -> int:
    host, _, port_text = str(args.listen).rpartition(":")
    if not host or not port_text.isdigit():
        raise CliError(f"--listen expects HOST:PORT, got {args.listen!r}")
    try:
        credentials = admin_from_env() if not args.admin_user else None
        if args.admin_user:
            password = os.environ.get("MERO_AUTH_ADMIN_PASSWORD")
            if args.admin_password_file is not None:
                password = strip_trailing_newline(args.admin_password_file.read_text())
            if not password:
                raise CliError("--admin-user needs --admin-password-file or MERO_AUTH_ADMIN_PASSWORD")
            credentials = (args.admin_user, password)
        admin = AdminAccount.create(*credentials) if credentials else None
    except AuthSetupError as error:
        raise CliError(str(error)) from None
    service = AuthService(
        secret=os.urandom(32),
        admin=admin,
        access_expiry=args.access_token_expiry,
        refresh_expiry=args.refresh_token_expiry,
        log=log,
    )
    servers = HttpServers(AuthServiceApp(service).handle, log, TARGET)
    try:
        servers.bind(host.strip("[]"), int(port_text))
    except OSError as error:
        servers.close()
        raise CliError(f"cannot listen on {args.listen}: {error.strerror}") from None
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    servers.start()
    log.info(TARGET, f"Auth service listening on {args.listen}")
    while not stop.wait(0.5):
        pass
    servers.close()
    log.info(TARGET, "Auth service shutdown complete")
    return 0
