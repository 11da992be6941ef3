"""A real HTTP(S) server on 127.0.0.1 for tests, the demo and benchmarks.

Connectors are tested over real sockets, never by mocking httpx, so retries,
timeouts, TLS and keep-alive behave as in production. :class:`FakeServer`
runs stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive) on a free port in
a background thread. Simulators subclass it, register routes and may
override :meth:`FakeServer.authorize`; tests queue :class:`Fault` s per path
and read the request log. ``stop()`` wakes every sleeping or idle handler
and joins its thread, so nothing leaks (pytest turns ResourceWarning into
errors).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

HANG_LIMIT = 30.0  # a hang never outlives this, even if stop() is forgotten


@dataclass(frozen=True)
class Request:
    """One request as received; ``headers`` names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float  # time.monotonic() on arrival
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    cut: bool = False  # send the full Content-Length but half the body, then close

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        head = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(data).encode(), head)


FaultKind = Literal["latency", "status", "reset", "hang", "malformed", "truncated"]


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request; build with the class methods."""

    kind: FaultKind
    seconds: float = 0.0
    response: Response | None = None

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, ``seconds`` late."""
        return cls("latency", seconds=seconds)

    @classmethod
    def status(cls, code: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Fault:
        """Answer ``code``; ``body`` is bytes as-is, anything else as JSON."""
        if isinstance(body, bytes):
            return cls("status", response=Response(code, body, dict(headers or {})))
        data = {"error": f"injected HTTP {code}"} if body is None else body
        return cls("status", response=Response.json(data, code, headers))

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection (TCP RST) without answering."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float = 10.0) -> Fault:
        """Say nothing for ``seconds`` (capped by HANG_LIMIT and stop()), then drop."""
        return cls("hang", seconds=min(seconds, HANG_LIMIT))

    @classmethod
    def truncated(cls) -> Fault:
        """Answer normally, but close the connection halfway through the body."""
        return cls("truncated")

    @classmethod
    def malformed(cls, body: bytes = b"<html><body>502 Bad Gateway</body></html>") -> Fault:
        """Answer 200 with a body that is not JSON."""
        return cls("malformed", response=Response(200, body, {"Content-Type": "text/html"}))


Handler = Callable[[Request], Response]


@dataclass
class _Queued:
    pattern: re.Pattern[str]
    fault: Fault
    remaining: int


class FakeServer:
    """Routes and faults are matched against the whole path (``re.fullmatch``)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, latency: float = 0.0) -> None:
        self.tls = tls
        self.latency = latency  # seconds added to every answer, for benchmarks
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_Queued] = []
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def add_fault(self, pattern: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests whose path matches."""
        with self._lock:
            self._faults.append(_Queued(re.compile(pattern), fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def authorize(self, request: Request) -> Response | None:
        """Override to refuse a request (return the error response)."""
        return None

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- lifecycle -----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},  # bounds how long stop() waits
                name=f"fake-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # ends latency and hang waits
        server.shutdown()
        with self._lock:  # wakes handlers blocked reading idle keep-alive sockets
            for conn in self._connections:
                _shutdown(conn)
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving (handler threads) -------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                if self._stopping.is_set():
                    _shutdown(conn)
            else:
                self._connections.discard(conn)

    def _answer(self, request: Request) -> Response | None:
        """The response, or None to drop the connection without one."""
        with self._lock:
            self._log.append(request)
            fault = self._take_fault(request.path)
        delay = self.latency
        if fault is not None:
            if fault.kind in ("reset", "hang"):
                self._stopping.wait(fault.seconds)
                return None
            if fault.kind == "latency":
                delay += fault.seconds
        if delay > 0:
            self._stopping.wait(delay)
        if fault is not None and fault.response is not None:
            return fault.response
        response = self.authorize(request) or self._dispatch(request)
        return replace(response, cut=True) if fault and fault.kind == "truncated" else response

    def _take_fault(self, path: str) -> Fault | None:
        for queued in self._faults:
            if queued.pattern.fullmatch(path):
                queued.remaining -= 1
                if queued.remaining <= 0:
                    self._faults.remove(queued)
                return queued.fault
        return None

    def _dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                try:
                    return handler(replace(request, params=match.groupdict()))
                except Exception as exc:  # a simulator bug: say so instead of dropping
                    return Response.json({"error": f"simulator failed: {exc!r}"}, 500)
        return Response.json({"error": f"no route for {request.method} {request.path}"}, 404)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the plain-socket call, even on an SSLSocket
        socket.socket.shutdown(conn, socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined by server_close(), so stop() leaks no thread
    block_on_close = True
    # socketserver's default backlog of 5 drops SYNs when a client opens more
    # connections at once, and the kernel retries them only after a second.
    request_queue_size = 256

    def __init__(self, app: FakeServer) -> None:
        self.app = app
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        if app.tls is not None:
            self.socket = app.tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's slow getfqdn()
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out, reset or reject our certificate are expected


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive socket never pins a thread forever
    disable_nagle_algorithm = True  # headers and body go out as two writes

    def setup(self) -> None:
        super().setup()
        self.server.app._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app._track(self.connection, add=False)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path,
            query=dict(parse_qsl(target.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            time=time.monotonic(),
        )
        response = self.server.app._answer(request)
        if response is None:  # RST instead of an answer
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.cut:  # the client waits for bytes that never come, then sees the close
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(response.body)


__all__ = ["HANG_LIMIT", "FakeServer", "Fault", "Handler", "Request", "Response"]
