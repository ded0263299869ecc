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
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from console.overview import RECENT_SECONDS, TALLIED, overview

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


def when(moment: Any) -> str:
    """An ISO 8601 time as a person scans a column of them: to the second, in UTC."""
    try:
        parsed = datetime.fromisoformat(str(moment))
    except ValueError:
        return str(moment or "")
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if parsed.tzinfo else parsed.isoformat(" ")


PAGES.filters["duration"] = duration
PAGES.filters["when"] = when
# The tab's icon, drawn here: the page fetches nothing from elsewhere.
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#243b53"/>'
    '<circle cx="4" cy="8" r="2" fill="#b7e4c7"/><circle cx="8" cy="8" r="2" fill="#9ec5fe"/>'
    '<circle cx="12" cy="8" r="2" fill="#ffc680"/></svg>'
)
ROUTES = Map(
    [
        Rule("/", endpoint="home"),
        Rule("/static/console.js", endpoint="script"),
        Rule("/favicon.ico", endpoint="icon"),
        Rule("/<model>/", endpoint="overview"),
        Rule("/<model>/orders", endpoint="listing"),
        Rule("/<model>/orders/<path:order_id>", endpoint="order"),
        Rule("/<model>/deviations", endpoint="deviations"),
        Rule("/<model>/queues/<queue>", endpoint="queue"),
    ]
)


@dataclass
class Console:
    """A WSGI application over one source per model, for the browser at `port` on this machine."""

    sources: Sequence[source.StackSource]
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def models(self) -> Mapping[str, source.StackSource]:
        return {data.model_name: data for data in self.sources}

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
            if "model" in values and values["model"] not in self.models:
                message = f"no model {values['model']!r} here: {', '.join(self.models)}"
                response = self._page("problem.html", status=404, message=message)
            else:
                response = getattr(self, endpoint)(request, **values)
        except HTTPException as error:
            response = self._page("problem.html", status=error.code or 500, message=error.description)
        if request.args.get("token"):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
        return response

    def home(self, request: Request) -> Response:
        return redirect(f"/{next(iter(self.models))}/")

    def overview(self, request: Request, model: str) -> Response:
        data = self.models[model]
        summary = overview(data)
        return self._page(
            "overview.html",
            model=model,
            summary=summary,
            graph=data.model_graph(),
            tallied=TALLIED,
            recent=RECENT_SECONDS,
        )

    def listing(self, request: Request, model: str) -> Response:
        wanted = request.args.get("id", "").strip()
        if wanted:  # the search box: any id a service may send, encoded for the path
            return redirect(f"/{model}/orders/{quote(wanted, safe='')}")
        parameters = {name: value for name, value in request.args.items() if name not in ("token", "id") and value}
        parameters.setdefault("status", "STUCK")
        parameters.setdefault("limit", "25")
        try:
            page = self.models[model].orders(parameters)
        except source.BadRequest as problem:
            return self._page("problem.html", model=model, status=400, message=str(problem))
        milestones = [m["name"] for m in self.models[model].model["milestones"]]
        return self._page(
            "listing.html",
            model=model,
            page=page,
            chosen=parameters,
            milestones=milestones,
            versioned=self._versioned(model),
        )

    def deviations(self, request: Request, model: str) -> Response:
        parameters = {name: value for name, value in request.args.items() if name == "next" and value}
        try:
            page = self.models[model].deviations({"limit": "25", **parameters})
        except source.BadRequest as problem:
            return self._page("problem.html", model=model, status=400, message=str(problem))
        return self._page("deviations.html", model=model, page=page, versioned=self._versioned(model), deviating=True)

    def order(self, request: Request, model: str, order_id: str) -> Response:
        data = self.models[model]
        try:
            order = data.order(order_id)
        except source.NotFound as missing:
            return self._page("problem.html", model=model, status=404, message=str(missing))
        except source.BadRequest as problem:
            return self._page("problem.html", model=model, status=400, message=str(problem))
        graph = data.graph(order["executionArn"], title=order_id) if order.get("executionArn") else None
        past = {order["stuckAt"]: _since(order.get("since"))} if order.get("stuckAt") else {}
        return self._page("order.html", model=model, order=order, graph=graph, key=order["key"], past=past)

    def queue(self, request: Request, model: str, queue: str) -> Response:
        try:
            messages = self.models[model].sample(queue)
        except source.NotFound as missing:
            return self._page("problem.html", model=model, status=404, message=str(missing))
        return self._page("queue.html", model=model, queue=queue, messages=messages)

    def icon(self, request: Request) -> Response:
        return Response(ICON, mimetype="image/svg+xml")

    def script(self, request: Request) -> Response:
        return Response((HERE / "static" / "console.js").read_text(encoding="utf-8"), mimetype="text/javascript")

    def _versioned(self, model: str) -> bool:
        """Whether a listing shows each order's version: where several ship, it can differ."""
        return len(self.models[model].model.get("versions", ())) > 1

    def _page(self, template: str, *, status: int = 200, **values: Any) -> Response:
        values.setdefault("model", "")
        values.setdefault("models", list(self.models))
        html = PAGES.get_template(template).render(statuses=STATUSES, **values)
        return Response(html, status=status, mimetype="text/html")


@contextlib.contextmanager
def serve_console(sources: Sequence[source.StackSource], port: int = 0) -> Iterator[Console]:
    """Serve the console on 127.0.0.1 (on a free port by default) while the block runs."""
    console = Console(sources, port)
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
