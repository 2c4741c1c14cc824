"""The standards path scores like the JSON path: the same simulated day, once replayed as JSON
onto the raw topics and once as the simulator's HL7 files through ``pumpstream gateway``, each
into its own broker and worker, then ``pumpstream evaluate`` (with ``--pseudonymised`` for the
HL7 run, whose patients are the gateway's keyed hashes of the MRNs): the same precision and
recall for every rule. All through the real commands."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from schemas.topics import ALL_TOPICS
from streams.cli.gateway_bench import GatewayProcess
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.settings import consumed_topics
from tests.conftest import TEST_PARTITIONS
from tests.integration.test_broker_cli import PUMPSTREAM, cli_env
from tests.support.hl7_messages import PSEUDONYM_KEY

pytestmark = pytest.mark.integration

SEED = "7"
ENV = {
    "PUMPSTREAM_TOPIC_PARTITIONS": str(TEST_PARTITIONS),
    "PUMPSTREAM_PSEUDONYM_KEY": PSEUDONYM_KEY.get_secret_value(),
    "PUMPSTREAM_LOG_LEVEL": "info",
}


def pumpstream(*args: str, **env: str) -> str:
    result = subprocess.run(
        [*PUMPSTREAM, *args],
        capture_output=True,
        text=True,
        env=cli_env(**ENV, **env),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def scores(evaluation: str) -> dict[str, tuple[str, ...]]:
    """Rule -> (alerts, TP, FP, precision, labels, found, recall) from `evaluate`'s table."""
    lines = evaluation.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rule"))
    rows = {}
    for line in lines[header + 1 :]:
        if not line or line.startswith(("pages per", "true episodes", "technical alerts")):
            break  # the page figures (issue 12) follow the table
        rows[line.split()[0]] = tuple(line.split()[1:8])
    return rows


def worker(bootstrap: str, run_dir: Path) -> WorkerProcess:
    return WorkerProcess(
        bootstrap,
        run_dir,
        env={
            **cli_env(**ENV),
            "PUMPSTREAM_METRICS_PORT": str(free_port()),
            "PUMPSTREAM_DATA_DIR": str(run_dir / "data"),
        },
    ).start()


def caught_up(bootstrap: str) -> bool:
    names = consumed_topics()
    kafka = KafkaConnection(bootstrap)
    return asyncio.run(wait_until_caught_up(kafka, "pumpstream", names, timeout_s=90))


def test_replay_hl7_through_the_gateway_scores_as_the_json_replay(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    day = tmp_path / "day"
    pumpstream("simulate", "--seed", SEED, "--out", str(day))
    truth = str(day / "truth.json")
    with EmbeddedBroker(log_path=tmp_path / "hl7-broker.log") as hl7_broker:
        for kafka in (broker.connection, hl7_broker.connection):
            asyncio.run(ensure_topics(kafka, partitions=TEST_PARTITIONS, topics=ALL_TOPICS))
        workers = [
            worker(broker.bootstrap, tmp_path / "json-worker"),
            worker(hl7_broker.bootstrap, tmp_path / "hl7-worker"),
        ]
        gateway = GatewayProcess(hl7_broker.bootstrap, tmp_path / "gateway", env=cli_env(**ENV))
        try:
            gateway.start()
            for process in (*workers, gateway):
                process.wait_ready()

            pumpstream("replay", str(day), "--bootstrap", broker.bootstrap)
            sent = pumpstream("replay", str(day), "--hl7", "--gateway",
                              f"127.0.0.1:{gateway.mllp_port}")  # fmt: skip
            assert "0 refused (AR)" in sent, sent
            assert caught_up(broker.bootstrap)
            assert caught_up(hl7_broker.bootstrap)
            json_scores = scores(pumpstream("evaluate", "--truth", truth,
                                            "--bootstrap", broker.bootstrap))  # fmt: skip
            hl7_scores = scores(pumpstream("evaluate", "--truth", truth, "--pseudonymised",
                                           "--bootstrap", hl7_broker.bootstrap))  # fmt: skip
        finally:
            for process in (gateway, *workers):
                process.stop()
    assert {"R1", "R2", "R4", "R6", "R8", "reactions"} <= set(json_scores), json_scores
    assert json_scores["R1"][-1] == "1.00", "the JSON path finds every R1 reaction"
    for rule, row in json_scores.items():
        precision_recall = (row[3], row[6])
        assert (hl7_scores[rule][3], hl7_scores[rule][6]) == precision_recall, (rule, hl7_scores)
    assert hl7_scores == json_scores, "same episodes, true and false positives, labels found"
