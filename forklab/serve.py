"""forklab serve: the lesson player in a browser, for a class.

Each browser tab that connects runs its own ``forklab learn`` as the server's
user, through textual-serve. Each browser keeps its own progress: the page
gives it a random learner id in a cookie, and its sessions keep their progress
in a file named after that id, so it survives reloads and server restarts and
no student sees another's. The page asks nothing of any other site.

Whoever can open a session can run lessons and the kernel backend as that
user, so a session is opened only for a page that came with the server's
token (printed at start, in the address), only from a page of this server (the
websocket's Origin must be the server's own address), and only while fewer
than ``max_sessions`` are open. See docs/security.md.
"""
from __future__ import annotations

import html
import re
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from forklab.tui.progress import state_dir

DEFAULT_MAX_SESSIONS = 30
LEARNER_COOKIE = "forklab_learner"
LEARNER_ID = re.compile(r"[0-9a-f]{32}")
LEARNER_DAYS = 365
_OTHER_SITE_LINK = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.S)

REFUSED_PAGE = ("forklab serve: this address has no valid class token. Open the "
                "address the server printed when it started (it ends in ?token=...).\n")


class ClassServer(Server):
    """textual-serve's server with a token, an origin check and a session cap."""

    def __init__(self, command: str, *, host: str, port: int, max_sessions: int,
                 token: str | None = None, progress_dir: Path | None = None) -> None:
        super().__init__(command, host=host, port=port, title="forklab")
        self.token = token or secrets.token_urlsafe(24)
        self.max_sessions = max_sessions
        self.sessions = 0
        self.progress_dir = progress_dir or state_dir() / "class"

    def learner_command(self, learner: str) -> str:
        """The lesson player for one browser: its progress in a file of its own."""
        path = self.progress_dir / f"{learner}.json"
        return f"{self.command} --progress {shlex.quote(str(path))}"

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
        aiohttp_jinja2.setup(app, loader=jinja2.FunctionLoader(self._page_template))
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get(f"/ws/{self.token}", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    def _page_template(self, name: str) -> str:
        """textual-serve's page, with a title and without what it would fetch from
        other sites (a web font): a class may have no internet, and a student's
        browser should ask nothing of anyone but this server."""
        text = (Path(self.templates_path) / name).read_text(encoding="utf-8")
        text = _OTHER_SITE_LINK.sub("", text)
        return text.replace("<head>", f"<head>\n    <title>{html.escape(self.title)}</title>", 1)

    async def handle_index(self, request: web.Request) -> Any:
        if not self._token_ok(request.query.get("token")):
            return web.Response(status=403, text=REFUSED_PAGE)
        page = await super().handle_index(request)
        if not LEARNER_ID.fullmatch(request.cookies.get(LEARNER_COOKIE, "")):
            page.set_cookie(LEARNER_COOKIE, secrets.token_hex(16), httponly=True,
                            samesite="Strict", max_age=LEARNER_DAYS * 86400, path="/")
        return page

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if not _same_origin(request):
            return web.Response(status=403, text="forklab serve: a page of another site "
                                                 "cannot open a lesson session\n")
        if self.sessions >= self.max_sessions:
            return web.Response(status=503, text=f"forklab serve: all {self.max_sessions} "
                                                 "sessions are in use; try again later\n")
        learner = request.cookies.get(LEARNER_COOKIE, "")
        if not LEARNER_ID.fullmatch(learner):
            return web.Response(status=403, text="forklab serve: this browser has no learner "
                                                 "id; reload the class page\n")
        self.sessions += 1
        try:
            return await self._session(request, self.learner_command(learner))
        finally:
            self.sessions -= 1

    async def _session(self, request: web.Request, command: str) -> web.WebSocketResponse:
        """One lesson player, ``command``, driven through the request's websocket."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)

        async def close() -> None:
            await websocket.close()

        service = AppService(command, write_bytes=websocket.send_bytes,
                             write_str=websocket.send_str, close=close,
                             download_manager=self.download_manager, debug=self.debug)
        await service.start(width, height)
        try:
            await self._process_messages(websocket, service)
        finally:
            await service.stop()
        return websocket


def _same_origin(request: web.Request) -> bool:
    """Whether the websocket was opened by a page of this server: the browser's
    Origin header names the host and port the request was sent to."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host
