"""The web console: pages about orders, served on loopback to one person's browser.

It listens on 127.0.0.1 only, and answers a request only if its Host header is this server's own (a page
of another site cannot reach it through DNS rebinding) and it carries the session's token: the URL the
server prints has it, the first visit turns it into a cookie (HttpOnly, SameSite=Strict, so another site's
page cannot make the browser send it). The page never sees AWS credentials; the source reads for it.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from console import source

HERE = Path(__file__).parent
COOKIE = "console-session"
STATUSES = ("RUNNING", "STUCK", "FAILED", "COMPLETED")
PAGES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(("html",)))


def duration(seconds: float | None) -> str:
    """A duration as a person reads it: 900 s as 15 min, 86400 s as 1 d."""
    if seconds is None:
        return ""
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= length:
            return f"{seconds / length:.3g} {unit}"
    return f"{seconds:.3g} s"


PAGES.filters["duration"] = duration
ROUTES = Map(
    [
        Rule("/", endpoint="home"),
        Rule("/orders", endpoint="listing"),
        Rule("/orders/<path:order_id>", endpoint="order"),
        Rule("/static/console.js", endpoint="script"),
    ]
)


@dataclass
class Console:
    """A WSGI application over `data`, for the browser at `port` on this machine."""

    data: source.Source
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.respond(request)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.host not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            return Response("refused: this console answers only its own address", status=403)
        given = request.args.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given, self.token):
            return self._page("refused.html", status=403)
        try:
            endpoint, values = ROUTES.bind_to_environ(request.environ).match()
            response: Response = getattr(self, endpoint)(request, **values)
        except HTTPException as error:
            response = self._page("problem.html", status=error.code or 500, message=error.description)
        if request.args.get("token"):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
        return response

    def home(self, request: Request) -> Response:
        return self.listing(request)

    def listing(self, request: Request) -> Response:
        wanted = request.args.get("id", "").strip()
        if wanted:  # the search box: any id a service may send, encoded for the path
            return redirect(f"/orders/{quote(wanted, safe='')}")
        parameters = {name: value for name, value in request.args.items() if name not in ("token", "id") and value}
        parameters.setdefault("status", "STUCK")
        parameters.setdefault("limit", "25")
        try:
            page = self.data.orders(parameters)
        except source.BadRequest as problem:
            return self._page("problem.html", status=400, message=str(problem))
        return self._page("listing.html", page=page, statuses=STATUSES, chosen=parameters)

    def order(self, request: Request, order_id: str) -> Response:
        try:
            order = self.data.order(order_id)
        except source.NotFound as missing:
            return self._page("problem.html", status=404, message=str(missing))
        except source.BadRequest as problem:
            return self._page("problem.html", status=400, message=str(problem))
        graph = self.data.graph(order["executionArn"], title=order_id) if order.get("executionArn") else None
        past = {order["stuckAt"]: _since(order.get("since"))} if order.get("stuckAt") else {}
        return self._page("order.html", order=order, graph=graph, key=order["key"], past=past)

    def script(self, request: Request) -> Response:
        return Response((HERE / "static" / "console.js").read_text(encoding="utf-8"), mimetype="text/javascript")

    def _page(self, template: str, *, status: int = 200, **values: Any) -> Response:
        html = PAGES.get_template(template).render(model=self.data.model_name, **values)
        return Response(html, status=status, mimetype="text/html")


@contextlib.contextmanager
def serve_console(data: source.Source, port: int = 0) -> Iterator[Console]:
    """Serve the console on 127.0.0.1 (on a free port by default) while the block runs."""
    console = Console(data, port)
    server = make_server("127.0.0.1", port, console, threaded=True)
    console.port = server.server_port  # the one bound, when asked for any
    thread = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    thread.start()
    try:
        yield console
    finally:
        server.shutdown()


def _since(moment: Any) -> float | None:
    """Seconds from `moment` (ISO 8601) to now: for a stuck order, from when its SLA ran out (the time of
    its first STUCK mark, which later escalations keep)."""
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(str(moment))).total_seconds()
    except (TypeError, ValueError):
        return None
