"""The worker's HTTP endpoint: /metrics, /healthz, /readyz, and a clear error for a taken port."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from streams.exceptions import PumpstreamError
from streams.metrics.server import WorkerHealth, serve_metrics


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> WorkerHealth:
    return WorkerHealth(stall_after_s=30, clock=clock)


@pytest.fixture
def base_url(health: WorkerHealth) -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("pumpstream_probe_test", "A counter to find on /metrics.", registry=registry).inc()
    server = serve_metrics(registry, health, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http on loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_are_still_served(base_url: str) -> None:
    status, body = _get(f"{base_url}/metrics")
    assert status == 200
    assert "pumpstream_probe_test_total 1.0" in body
    assert "_created" not in body, "the creation-time series are rendered on every scrape"


def test_ready_only_while_holding_partitions_and_reaching_the_broker(
    base_url: str, health: WorkerHealth
) -> None:
    status, body = _get(f"{base_url}/readyz")
    assert (status, json.loads(body)["detail"]) == (
        503,
        "not holding partitions (starting or rebalancing)",
    )
    health.partitions_assigned()
    assert _get(f"{base_url}/readyz")[0] == 200
    health.broker_failed("KafkaConnectionError: Unable to bootstrap")
    status, body = _get(f"{base_url}/readyz")
    assert status == 503
    assert "broker unreachable" in body
    health.broker_ok()
    assert _get(f"{base_url}/readyz")[0] == 200
    health.partitions_revoked()
    assert _get(f"{base_url}/readyz")[0] == 503


def test_alive_until_the_loop_stops_ticking(
    base_url: str, health: WorkerHealth, clock: FakeClock
) -> None:
    health.partitions_assigned()
    assert _get(f"{base_url}/healthz")[0] == 200
    clock.now += 31  # no tick for 31 s
    status, body = _get(f"{base_url}/healthz")
    assert status == 503
    assert json.loads(body)["detail"] == "event loop stalled for 31 s"
    assert _get(f"{base_url}/readyz")[0] == 503  # a stalled worker is not ready either
    health.tick()
    assert _get(f"{base_url}/healthz")[0] == 200


def test_a_port_in_use_names_the_setting_to_change(health: WorkerHealth) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PumpstreamError, match=f"port {port} on 127.0.0.1 is already in use"):
            serve_metrics(CollectorRegistry(), health, "127.0.0.1", port)
