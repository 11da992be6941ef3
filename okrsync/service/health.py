"""``/healthz`` and ``/readyz`` for ``okrsync run`` (container probes), stdlib only.

Liveness fails when the scheduler loop has not ticked for longer than its
stall bound (a hung process should be restarted); readiness asks the store
for the last run, so it fails while the store is unreachable.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

log = structlog.get_logger("okrsync.service.health")
ALL = "0.0.0.0"  # noqa: S104 - container probes arrive on the pod's address


class Heartbeat:
    """The scheduler beats; the probe reads how long ago."""

    def __init__(self, stall_after: float) -> None:
        self.stall_after = stall_after
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def age(self) -> float:
        with self._lock:
            return time.monotonic() - self._last


ReadyCheck = Callable[[], dict[str, Any]]  # raises when not ready


class HealthServer:
    def __init__(self, port: int, heartbeat: Heartbeat, ready: ReadyCheck, host: str = ALL) -> None:
        handler = _handler(heartbeat, ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="okrsync-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoints listening", port=self.port, paths=["/healthz", "/readyz"])
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(heartbeat: Heartbeat, ready: ReadyCheck) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                age = heartbeat.age()
                ok = age <= heartbeat.stall_after
                body = {"status": "ok" if ok else "stalled", "loop_age_s": round(age, 1)}
                self._send(200 if ok else 503, body)
            elif self.path == "/readyz":
                try:
                    self._send(200, {"ready": True, **ready()})
                except Exception as exc:  # any failure means not ready; say why
                    self._send(503, {"ready": False, "error": str(exc)})
            else:
                self._send(404, {"error": "not found", "paths": ["/healthz", "/readyz"]})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # probes every few seconds would drown the logs

    return Handler


__all__ = ["HealthServer", "Heartbeat"]
