"""What okrsync serves over HTTP: the dashboard, /api/status, /metrics, /healthz, /readyz.

One ASGI app (Starlette) for ``okrsync serve`` and for ``okrsync run`` on its
port, so one container syncs and serves. Every route only reads: the store
through :mod:`okrsync.publish.current`, the configuration through a callable
(the scheduler's newest valid one, or the mappings directory re-read when it
changes). The probes stay open; everything else takes the optional access
control (a bearer token, or basic auth) from the environment. A page never
shows a secret: what it renders comes from the store, which holds redacted text.

Store reads are blocking, so the routes are plain functions: Starlette runs
them in its thread pool, and a slow store never stalls ``/healthz``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from okrsync.config.loader import Config
from okrsync.errors import ConfigError
from okrsync.publish import current, metrics, snapshot
from okrsync.publish.dashboard import chart, pages
from okrsync.service.health import Heartbeat, ReadyCheck
from okrsync.store.database import Store

log = structlog.get_logger("okrsync.service.web")
OPEN_PATHS = ("/healthz", "/readyz")  # probes carry no credentials
STALE_SCRAPE = 120.0  # seconds a scrape may be answered from before the last store write
PAGE_HEADERS = {  # the pages need only themselves and the stylesheet
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Access:
    """Who may read: a bearer token, or a user and password (basic auth); neither: anyone."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.token or self.password)

    def allows(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if self.token and scheme.lower() == "bearer":
            return hmac.compare_digest(given.strip().encode(), self.token.encode())
        if self.password and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(given.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return hmac.compare_digest(password.encode(), self.password.encode()) and (
                self.user is None or hmac.compare_digest(user.encode(), self.user.encode())
            )
        return False

    def challenge(self) -> str:
        return 'Basic realm="okrsync"' if self.password else 'Bearer realm="okrsync"'


@dataclass
class Sources:
    """What the routes read; ``config`` returns None while no valid configuration exists."""

    config: Callable[[], Config | None]
    store: Store
    ready: ReadyCheck
    heartbeat: Heartbeat | None = None
    access: Access = field(default_factory=Access)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    trees: current.Cache[current.Tree] = field(default_factory=current.Cache)
    scrapes: current.Cache[bytes] = field(default_factory=current.Cache)
    _rebuilding: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tree(self, config: Config, now: datetime) -> tuple[tuple[Any, ...], current.Tree]:
        """The tree as of this minute, built once per store write, configuration or minute."""
        key = current.key(config, self.store, now)
        return key, self.trees.get(key, lambda: current.tree(config, self.store, now))

    def scrape(self, config: Config, now: datetime) -> bytes:
        """The exposition for ``now``; right after a store write, the previous one while rebuilding.

        A rebuild at 10,000 key results takes over a second (the tree, then
        51,000 samples through prometheus-client), so a scrape landing then is
        answered with the exposition built before the write, at most
        ``STALE_SCRAPE`` seconds old, and the new one is built in a thread.
        Pages and /api/status never do this: they always show the store as it is.
        """
        key = current.key(config, self.store, now)
        held = self.scrapes.latest()
        if held is not None and held[0] != key and held[2] < STALE_SCRAPE:
            if self._rebuilding.acquire(blocking=False):
                threading.Thread(
                    target=self._rebuild, args=(config, now), name="okrsync-scrape", daemon=True
                ).start()
            return held[1]
        return self._build_scrape(config, now)

    def _build_scrape(self, config: Config, now: datetime) -> bytes:
        key, tree = self.tree(config, now)
        return self.scrapes.get(key, lambda: metrics.exposition(tree.views, self.store))

    def _rebuild(self, config: Config, now: datetime) -> None:
        try:
            self._build_scrape(config, now)
        except Exception as exc:  # the next scrape builds (and reports) it itself
            log.warning("rebuilding /metrics failed", error=str(exc))
        finally:
            self._rebuilding.release()

    def warm(self) -> None:
        """Build what a sync or a new minute made stale before anyone asks for it."""
        config = self.config()
        if config is not None:
            self._build_scrape(config, self.now())


class Warmer:
    """Rebuilds the tree and the exposition soon after each store write, in a thread.

    At 10,000 key results a rebuild takes about a second; done here, a page or
    a Prometheus scrape after a sync is served from what was built, not made
    to wait for it.
    """

    def __init__(self, sources: Sources, every: float = 5.0) -> None:
        self._sources, self._every = sources, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="okrsync-warm", daemon=True)

    def start(self) -> Warmer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sources.warm()
            except Exception as exc:  # a store outage: the routes will say so; try again
                log.debug("warming failed", error=str(exc))
            self._stop.wait(self._every)


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app: Any, access: Access) -> None:
        super().__init__(app)
        self.access = access

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if (
            self.access.required
            and request.url.path not in OPEN_PATHS
            and not self.access.allows(request.headers.get("authorization", ""))
        ):
            return Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": self.access.challenge()},
                media_type="text/plain",
            )
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


def make_app(sources: Sources, extra: list[Route] | None = None) -> Starlette:
    """The app; ``extra`` routes (the dashboard's pages) are served under the same guard."""

    def healthz(_: Request) -> Response:
        if sources.heartbeat is None:
            return JSONResponse({"status": "ok"})
        age = sources.heartbeat.age()
        ok = age <= sources.heartbeat.stall_after
        body = {"status": "ok" if ok else "stalled", "loop_age_s": round(age, 1)}
        return JSONResponse(body, 200 if ok else 503)

    def readyz(_: Request) -> Response:
        try:
            return _json({"ready": True, **sources.ready()})
        except Exception as exc:  # any failure means not ready; say why
            return _json({"ready": False, "error": str(exc)}, 503)

    def metrics_route(_: Request) -> Response:
        body = sources.scrape(_config(sources), sources.now())
        return Response(body, media_type=metrics.CONTENT_TYPE)

    def api_status(_: Request) -> Response:
        config = _config(sources)
        tree = sources.tree(config, sources.now())[1]
        shown = snapshot.to_json(tree.views, tree.as_of)
        if tree.marks is not None:
            shown["pushes"] = tree.marks
        return _json(shown)

    def tree(request: Request) -> Response:
        config = _config(sources)
        now = sources.now()
        try:
            query = pages.Query.parse(request.query_params)
        except ValueError as exc:
            return _html(pages.error_page(400, str(exc), now), 400)
        tree = sources.tree(config, now)[1]
        return _html(pages.tree_page(tree.views, now, query, tree.marks))

    def key_result(request: Request) -> Response:
        config = _config(sources)
        now = sources.now()
        kr_id = request.path_params["kr_id"]
        entry = config.krs.get(kr_id)
        if entry is None:
            return _html(pages.error_page(404, f"no key result {kr_id!r}", now), 404)
        st = sources.store
        tree = sources.tree(config, now)[1]
        objective = next(v for v in tree.views if v.id == entry.objective.id)
        kr = next(k for k in objective.key_results if k.id == kr_id)
        points = st.history(kr_id, limit=20)
        run_id = points[-1].run_id if points else None
        last_run = st.run(run_id) if run_id is not None else None
        trigger = last_run.trigger if last_run else None
        info = snapshot.explain(config, entry, st.state(kr_id), points, trigger)
        info["pushes"] = [snapshot.push_json(p) for p in st.last_pushes(kr_id).values()]
        info["file"] = _within(Path(info["file"]), config.directory)  # no server paths shown
        cycle = entry.cycle
        good = [
            (m.measured_at, m.value)
            for m in st.history(kr_id, since=cycle.start_at)
            if m.status == "ok" and m.value is not None
        ]
        forecast, interval = None, None
        if kr.forecast is not None and kr.start is not None and kr.target is not None:
            start, span = kr.start, kr.target - kr.start
            forecast = start + kr.forecast * span
            if kr.forecast_interval is not None:
                ends = sorted(start + p * span for p in kr.forecast_interval)
                interval = (ends[0], ends[1])
        series = chart.Series(
            good, cycle.start_at, cycle.end_at, kr.start, kr.target, now, kr.unit, forecast,
            interval,
        )  # fmt: skip
        return _html(pages.kr_page(kr, objective, now, series, info, tree.marks))

    def css(_: Request) -> Response:
        return Response(pages.CSS, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    routes = [
        Route("/", tree),
        Route("/kr/{kr_id:path}", key_result),
        Route("/static/dashboard.css", css),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_route),
        Route("/api/status", api_status),
        *(extra or []),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, access=sources.access)],
        exception_handlers={NoConfig: _no_config, 404: _not_found},
    )


class NoConfig(Exception):
    """No valid configuration has been loaded yet (the mappings are broken)."""


def _config(sources: Sources) -> Config:
    config = sources.config()
    if config is None:
        raise NoConfig
    return config


async def _no_config(_: Request, __: Exception) -> Response:
    return JSONResponse({"error": "no valid configuration loaded yet: see okrsync validate"}, 503)


def _within(path: Path, directory: Path) -> str:
    try:
        return str(path.resolve().relative_to(directory.resolve()))
    except ValueError:
        return path.name


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status, media_type="text/html", headers=PAGE_HEADERS)


async def _not_found(request: Request, _: Exception) -> Response:
    """A page for a browser, JSON for a probe or a script."""
    if "text/html" in request.headers.get("accept", ""):
        now = datetime.now(UTC)
        return _html(pages.error_page(404, f"nothing at {request.url.path}", now), 404)
    paths = ["/", "/kr/{id}", "/api/status", "/metrics", *OPEN_PATHS]
    return JSONResponse({"error": "not found", "paths": paths}, 404)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status, media_type="application/json")


class MappingsWatch:
    """``okrsync serve``'s configuration: the mappings re-read when a file in them changes.

    A broken edit keeps the last valid configuration (as ``run`` does) and is
    logged once; ``/readyz`` lists its problems.
    """

    def __init__(
        self, directory: Path, load: Callable[[Path], Config], initial: Config | None = None
    ) -> None:
        self.directory, self._load = directory, load
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self.config: Config | None = initial
        if initial is not None:  # already loaded (serve checks it at start): not twice
            self._seen = self._stamp()
        self.broken: list[str] = []
        self._lock = threading.Lock()

    def __call__(self) -> Config | None:
        with self._lock:
            seen = self._stamp()
            if seen != self._seen:
                self._seen = seen
                try:
                    self.config, self.broken = self._load(self.directory), []
                except ConfigError as exc:
                    self.broken = [str(p) for p in exc.problems]
                    log.error("configuration invalid", problems=self.broken[:10])
            return self.config

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        try:
            files = sorted(p for p in self.directory.rglob("*") if p.is_file())
        except OSError:
            return ()
        stamps = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            stamps.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(stamps)


class WebServer:
    """uvicorn in a thread of its own (``okrsync run``): the scheduler keeps the main loop.

    The socket is bound here, so a port in use is an OSError at once (uvicorn
    itself would exit the thread) and port 0 gives a free port to read back.
    """

    def __init__(self, app: Starlette, port: int, host: str, warmer: Warmer | None = None) -> None:
        self._warmer = warmer
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"cannot serve on port {port} of {host}: {exc.strerror}") from None
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app, host=host, port=self.port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="okrsync-web",
            daemon=True,
        )  # fmt: skip

    def start(self, timeout: float = 10.0) -> WebServer:
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started or not self._thread.is_alive():
                break
            waited.wait(0.02)
        if not self._server.started:
            raise OSError(f"the web server did not start on port {self.port}")
        log.info("serving", port=self.port, paths=["/", "/api/status", "/metrics", *OPEN_PATHS])
        if self._warmer is not None:
            self._warmer.start()
        return self

    def stop(self) -> None:
        if self._warmer is not None:
            self._warmer.stop()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()


def serve_forever(app: Starlette, host: str, port: int, warmer: Warmer | None = None) -> None:
    """``okrsync serve``: uvicorn in the foreground until SIGINT/SIGTERM."""
    log.info("serving", host=host, port=port)
    if warmer is not None:
        warmer.start()
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    finally:
        if warmer is not None:
            warmer.stop()


__all__ = [
    "Access",
    "MappingsWatch",
    "NoConfig",
    "Sources",
    "Warmer",
    "WebServer",
    "make_app",
    "serve_forever",
]
