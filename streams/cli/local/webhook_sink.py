"""A webhook receiver on a free loopback port standing in for the nurses' pager: it answers 200
to every POST and records its ``Idempotency-Key`` (the notification id), so a harness can count
pages sent twice. Thread-based: it serves while the caller's event loop is busy."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streams.cli.local.embedded_broker import LOOPBACK


class WebhookSink:
    """Records the ``Idempotency-Key`` of every POST; :meth:`close` when done."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        #: ``time.monotonic()`` of each POST, beside ``keys``.
        self.received_at: list[float] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink._lock:
                    sink.keys.append(self.headers.get("Idempotency-Key", ""))
                    sink.received_at.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """No access log: the harness prints its own progress."""

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def pages(self) -> int:
        with self._lock:
            return len(self.keys)

    def duplicates(self) -> int:
        """Pages received more than once (each repeat of a key counts)."""
        with self._lock:
            return sum(n - 1 for n in Counter(self.keys).values() if n > 1)

    def received(self) -> list[tuple[float, str]]:
        """``(monotonic time, Idempotency-Key)`` of every POST, in order."""
        with self._lock:
            return list(zip(self.received_at, self.keys, strict=True))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
