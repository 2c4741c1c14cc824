"""The worker's HTTP endpoint on ``PUMPSTREAM_METRICS_PORT``: ``/metrics`` for Prometheus,
``/healthz`` (liveness) and ``/readyz`` (readiness) for supervisors and load balancers.

It runs in its own thread, so a scrape or a probe still gets an answer while the worker's event
loop is busy; ``/healthz`` fails only when the loop has not ticked for ``stall_after_s``.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, disable_created_metrics, make_wsgi_app

from streams.exceptions import PumpstreamError

#: A loop that has not ticked for this long is stalled: /healthz answers 503.
DEFAULT_STALL_AFTER_S = 30.0


class WorkerHealth:
    """What the probes report; set from the worker's loop, read from the server's thread."""

    def __init__(
        self,
        *,
        stall_after_s: float = DEFAULT_STALL_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_tick = clock()
        self._holds_partitions = False
        self._broker_problem: str | None = None

    def tick(self) -> None:
        """The event loop is alive (called by a timer on the loop)."""
        with self._lock:
            self._last_tick = self._clock()

    def partitions_assigned(self) -> None:
        with self._lock:
            self._holds_partitions = True

    def partitions_revoked(self) -> None:
        with self._lock:
            self._holds_partitions = False

    def broker_ok(self) -> None:
        with self._lock:
            self._broker_problem = None

    def broker_failed(self, reason: str) -> None:
        with self._lock:
            self._broker_problem = reason

    def liveness(self) -> tuple[bool, str]:
        with self._lock:
            quiet_s = self._clock() - self._last_tick
        if quiet_s > self.stall_after_s:
            return False, f"event loop stalled for {quiet_s:.0f} s"
        return True, "alive"

    def readiness(self) -> tuple[bool, str]:
        alive, why = self.liveness()
        if not alive:
            return False, why
        with self._lock:
            if not self._holds_partitions:
                return False, "not holding partitions (starting or rebalancing)"
            if self._broker_problem is not None:
                return False, f"broker unreachable: {self._broker_problem}"
        return True, "ready"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr: probes every few seconds would drown the worker's log."""


def _probe_app(check: Callable[[], tuple[bool, str]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        ok, detail = check()
        body = json.dumps({"status": "ok" if ok else "fail", "detail": detail}).encode()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


def serve_metrics(
    registry: CollectorRegistry, health: WorkerHealth, host: str, port: int
) -> WSGIServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (0: a free port) in a
    daemon thread; raise :class:`PumpstreamError` naming the port when it is taken.

    Without the ``_created`` series (for the whole process: prometheus_client's switch): each
    counter's and histogram's creation time, 583 of a worker's 1,618 lines, which no dashboard
    or alert rule reads. A scrape holds the interpreter lock while it renders them, away from
    the agents: 17.4 -> 9.5 ms a scrape (docs/benchmarks.md)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics: Callable[..., Iterable[bytes]] = make_wsgi_app(registry)
    routes = {"/healthz": _probe_app(health.liveness), "/readyz": _probe_app(health.readiness)}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = routes.get(environ.get("PATH_INFO", ""), metrics)
        return route(environ, start_response)

    try:
        server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PumpstreamError(
                f"port {port} on {host} is already in use: stop what holds it, or set "
                "PUMPSTREAM_METRICS_PORT to a free port (0 disables metrics and probes)"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PumpstreamError(
                f"PUMPSTREAM_BIND_ADDRESS={host} is not an address of this machine"
            ) from None
        raise
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
