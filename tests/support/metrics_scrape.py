"""Read a worker's /metrics and judge its labels: shared by the metrics and Prometheus tests."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from simulators.publisher import publish
from simulators.scripted_sessions import DEMO_PATIENTS, demo_script
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.settings import consumed_topics

#: Labels prometheus-client adds itself (histogram buckets).
NUMERIC_LABELS = {"le"}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (n, ls), v in samples(text).items()
        if n == name and labels.items() <= dict(ls).items()
    )


def label_violations(
    text: str, allowed: Mapping[str, Iterable[str]], forbidden: Iterable[str]
) -> list[str]:
    """Labels of pumpstream_* samples that are not in the allow-list or contain a forbidden
    text (a patient reference)."""
    allowed_sets = {name: set(values) for name, values in allowed.items()}
    problems = []
    for (name, labels), _ in samples(text).items():
        if not name.startswith("pumpstream_"):
            continue
        for label, label_value in labels:
            if any(f in label_value for f in forbidden):
                problems.append(f"{name}{{{label}={label_value!r}}} carries a patient reference")
            if label in NUMERIC_LABELS:
                float(label_value)
            elif label not in allowed_sets:
                problems.append(f"{name}: label {label!r} is not in the allow-list")
            elif label_value not in allowed_sets[label]:
                problems.append(f"{name}{{{label}={label_value!r}}} is not an allowed value")
    return problems


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("promtool") or "promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


PATIENT_REFS = tuple(p.patient_ref for p in DEMO_PATIENTS)
CONSUMED_TOPICS = consumed_topics()


async def play_demo_script(kafka: KafkaConnection, speed: float = 1500) -> int:
    """Publish the demo's messages in script order on a fast clock (130 simulated minutes in
    about 5 s: pain 18 min after a rate step still arrives after it), with event times in the
    recent past (so event-time latencies are positive); wait until the worker consumed them."""
    script = demo_script(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=120))
    sent = await publish(kafka, script, speed=speed)
    assert await wait_until_caught_up(kafka, "pumpstream", CONSUMED_TOPICS, timeout_s=60)
    return sent
