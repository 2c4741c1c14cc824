"""Broker faults in milliseconds: what the topic check calls a lost broker, the sensor that hears
of failed produces, and how the worker stops on them (the real broker: tests/integration/
test_broker_faults.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streams.kafka.produce_failures import ProduceFailureSensor, describe_failure
from streams.kafka.topic_layout import layout_problem
from streams.metrics.families import WorkerMetrics
from streams.metrics.labels import WardLabels, allowed_label_values, topic_label
from streams.metrics.server import WorkerHealth
from streams.worker import BROKER_FAULT_EXIT_CODE, BrokerFaultStop


def _described(name: str, partitions: int, error_code: int = 0) -> dict[str, object]:
    return {
        "topic": name,
        "error_code": error_code,
        "partitions": [{"partition": p} for p in range(partitions)],
    }


@pytest.mark.parametrize(
    ("described", "problem"),
    [
        pytest.param([_described("alerts", 2), _described("vitals", 2)], None, id="all-there"),
        pytest.param([_described("alerts", 2)], "no longer has topic(s) vitals", id="one-gone"),
        pytest.param([], "no longer has topic(s) alerts, vitals", id="broker-empty"),
        pytest.param(
            [_described("alerts", 2), _described("vitals", 4)],
            "vitals has 4",
            id="re-created-with-the-default-count",
        ),
        pytest.param(
            [_described("alerts", 2), _described("vitals", 0, error_code=3)],
            "no longer has topic(s) vitals",
            id="unknown-topic-answer",
        ),
    ],
)
def test_layout_problem(described: list[dict[str, object]], problem: str | None) -> None:
    found = layout_problem(described, ["alerts", "vitals"], 2)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_a_long_list_of_lost_topics_is_shortened() -> None:
    names = [f"t{n}" for n in range(10)]
    found = layout_problem([], names, 2)
    assert found == "the broker no longer has topic(s) t0, t1, t2 and 7 more"


def test_the_sensor_hands_over_the_topic_of_the_failed_message() -> None:
    failures: list[tuple[str, BaseException]] = []
    sensor = ProduceFailureSensor(lambda topic, exc: failures.append((topic, exc)))
    state = sensor.on_send_initiated(None, "alerts", None, 3, 100)
    error = TimeoutError("no answer")
    sensor.on_send_error(None, error, state)
    assert failures == [("alerts", error)]
    assert describe_failure("alerts", error) == (
        "Kafka did not accept a message for topic alerts (TimeoutError: no answer)"
    )


def test_produce_errors_are_counted_by_registry_topic_or_other() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    assert topic_label("alerts") == "alerts"
    assert topic_label("pumpstream-patient-state-changelog") == "other"
    allowed = allowed_label_values(WardLabels())["topic"]
    for family in metrics.registry.collect():
        if family.name == "pumpstream_produce_errors":
            labels = {s.labels["topic"] for s in family.samples}
            assert labels <= allowed
            assert {"alerts", "other"} <= labels


def test_a_broker_fault_marks_the_worker_not_ready_and_exits_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    health = WorkerHealth()
    health.partitions_assigned()
    exits: list[int] = []
    stop = BrokerFaultStop(health, hold_s=0, exit_process=exits.append)
    stop("Kafka did not accept a message for topic alerts (KafkaTimeoutError)")
    stop("a second failure while stopping")
    assert exits == [BROKER_FAULT_EXIT_CODE]
    ready, why = health.readiness()
    assert not ready
    assert "topic alerts" in why
    err = capfd.readouterr().err
    assert err.count("\n") == 1, "one line"
    assert err.startswith("error: Kafka did not accept a message for topic alerts")
    assert "a supervisor restarts it" in err
