"""What the gateway's probes report (``/healthz``, ``/readyz`` of ``serve_metrics``): alive while
its event loop ticks; ready while the MLLP listener accepts connections and Kafka is reachable
(the last record written or probe reached it). The symptom intake, when on, starts before the
MLLP listener, so a ready gateway accepts both."""

from __future__ import annotations

import threading
from typing import Any

from streams.metrics.server import WorkerHealth


class GatewayHealth(WorkerHealth):
    """:class:`WorkerHealth` (loop heartbeat, broker state) with the MLLP listener in place of
    a consumer group's partitions (a gateway holds none)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.partitions_assigned()
        self._listening = threading.Event()

    def listening(self) -> None:
        self._listening.set()

    def not_listening(self) -> None:
        self._listening.clear()

    def readiness(self) -> tuple[bool, str]:
        ready, why = super().readiness()
        if ready and not self._listening.is_set():
            return False, "the MLLP listener is not accepting connections"
        return ready, why
