"""forklab serve: the lesson player in a browser, for a class.

Each browser tab that connects runs its own ``forklab learn`` as the server's
user, through textual-serve. Whoever can open a session can run lessons and
the kernel backend as that user, so a session is opened only for a page that
came with the server's token (printed at start, in the address), only from a
page of this server (the websocket's Origin must be the server's own address),
and only while fewer than ``max_sessions`` are open. See docs/security.md.
"""
from __future__ import annotations

import secrets
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

DEFAULT_MAX_SESSIONS = 30

REFUSED_PAGE = ("forklab serve: this address has no valid class token. Open the "
                "address the server printed when it started (it ends in ?token=...).\n")


class ClassServer(Server):
    """textual-serve's server with a token, an origin check and a session cap."""

    def __init__(self, command: str, *, host: str, port: int, max_sessions: int,
                 token: str | None = None) -> None:
        super().__init__(command, host=host, port=port, title="forklab")
        self.token = token or secrets.token_urlsafe(24)
        self.max_sessions = max_sessions
        self.sessions = 0

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl+C; a port that cannot be bound raises OSError first."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((self.host, self.port))
        super().serve(debug)

    @property
    def address(self) -> str:
        """The address to hand to the class: it carries the token."""
        return f"{self.public_url}/?token={self.token}"

    async def on_startup(self, app: web.Application) -> None:
        print(f"forklab: serving the lesson player at {self.address} "
              f"(at most {self.max_sessions} sessions; Ctrl+C stops)", file=sys.stderr,
              flush=True)

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given, self.token)

    async def _make_app(self) -> web.Application:
        """textual-serve's routes, but the websocket's path carries the token, so
        only a page served with it (the index below) knows where to connect."""
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get(f"/ws/{self.token}", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_index(self, request: web.Request) -> Any:
        if not self._token_ok(request.query.get("token")):
            return web.Response(status=403, text=REFUSED_PAGE)
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if not _same_origin(request):
            return web.Response(status=403, text="forklab serve: a page of another site "
                                                 "cannot open a lesson session\n")
        if self.sessions >= self.max_sessions:
            return web.Response(status=503, text=f"forklab serve: all {self.max_sessions} "
                                                 "sessions are in use; try again later\n")
        self.sessions += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions -= 1


def _same_origin(request: web.Request) -> bool:
    """Whether the websocket was opened by a page of this server: the browser's
    Origin header names the host and port the request was sent to."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host
