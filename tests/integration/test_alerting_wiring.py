"""The alerting hook in ``create_app``: off without a roster; with one, its agents exist; bad
configuration stops the worker with the variable or field named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faust
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from streams.alerting.roster import RosterError, load_roster
from streams.app import create_app
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.clinical.rules_file import load_rules
from streams.exceptions import SettingsError
from streams.kafka.connection import KafkaConnection
from streams.metrics.families import WorkerMetrics
from streams.metrics.labels import WardLabels
from streams.settings import WorkerRole, consumed_topics, load_settings
from tests.support.alerting import write_roster

# The app is built, not run: nothing connects to these peers, but no port is fixed either.
CHANNELS = f"""
[channels.acm]
type = "hl7-mllp"
host = "127.0.0.1"
port = {free_port()}
[channels.pager]
type = "webhook"
url = "http://127.0.0.1:{free_port()}/pages"
"""

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _event_loop_for_faust() -> Iterator[None]:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def bootstrap(broker: EmbeddedBroker) -> KafkaConnection:
    return broker.connection


def _app(tmp_path: Path, bootstrap: KafkaConnection, **overrides: object) -> faust.App:
    """Build the app as ``run_worker`` does (roster read first, metrics built once)."""
    settings = load_settings(data_dir=tmp_path, **overrides)
    roster = load_roster(settings.alerting_config) if settings.alerting_config else None
    metrics = WorkerMetrics(
        CollectorRegistry(),
        WardLabels(settings.metrics_ward_names),
        roster.channel_types if roster else None,
    )
    return create_app(settings, bootstrap, metrics, load_rules(), roster)


def _agents(tmp_path: Path, bootstrap: KafkaConnection, **overrides: object) -> set[str]:
    app = _app(tmp_path, bootstrap, **overrides)
    return {agent.name.rsplit(".", 1)[-1] for agent in app.agents.values()}


def test_stored_names_are_those_of_the_workers_before_the_house_move(
    tmp_path: Path, bootstrap: KafkaConnection
) -> None:
    """Agent names (consumer state), table names (changelog topics) and the topics each agent
    reads are what workers before the house move used, so both read the same state."""
    roster = write_roster(tmp_path / "r.toml", channels=["acm", "pager"], extra=CHANNELS)
    app = _app(tmp_path, bootstrap, alerting_config=roster, ack_token="a-token-of-16-chars-or-more")
    agents = {
        agent.name.rsplit(".", 1)[-1]: sorted(agent.channel.topics) for agent in app.agents.values()
    }
    assert agents == {
        # Issue 15 (one hop for clinical events): a worker running every stage validates the
        # raw clinical topics in its clinical agent. The group is the same and offsets are the
        # group's per topic: the raw topics resume where the ingest agents left them. The
        # validated topics are still written, and no longer read by this group.
        "clinical": sorted(
            [
                *("pump.events.raw", "vitals.raw", "symptoms.raw"),
                *("alerts.acks", "reactions", "clinical.timer"),
            ]
        ),
        # telemetry.raw added by issue 15 (batched vital signs), then given an agent of its own
        # so that clinical events do not queue behind telemetry: the topics and the group are
        # the same, offsets are the group's per topic, so no stored name changed.
        "clinical_telemetry": ["telemetry.raw"],
        "alert_lifecycle": sorted(["alerts", "alerts.acks", "alerts.lifecycle.ticks"]),
        "notify_acm": ["alerts.notifications"],
        "notify_pager": ["alerts.notifications"],
    }
    assert {
        table.name: table.changelog_topic.get_topic_name() for table in app.tables.values()
    } == {
        "patient-state": "pumpstream-patient-state-changelog",
        "alert-episodes": "pumpstream-alert-episodes-changelog",
        # Added by issue 12 (a patient's pages): a new table, no stored name changed.
        "alert-pages": "pumpstream-alert-pages-changelog",
        # Added after the house move (issue 14): the pages each channel delivered.
        "alert-deliveries": "pumpstream-alert-deliveries-changelog",
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "ingest",
            {
                "ingest_pump_events_raw": ["pump.events.raw"],
                "ingest_vitals_raw": ["vitals.raw"],
                "ingest_symptoms_raw": ["symptoms.raw"],
            },
        ),
        (
            "clinical",
            {
                "clinical": sorted(
                    [
                        *("pump.events", "vitals", "symptoms"),
                        *("alerts.acks", "reactions", "clinical.timer"),
                    ]
                ),
                "clinical_telemetry": ["telemetry.raw"],
            },
        ),
    ],
)
def test_split_stages_meet_on_the_validated_topics(
    tmp_path: Path, bootstrap: KafkaConnection, role: WorkerRole, expected: dict[str, list[str]]
) -> None:
    """Split, ingest validates the raw clinical topics and the clinical stage reads the
    validated ones: the two hops of docs/deploy.md, "Split stages"."""
    app = _app(tmp_path, bootstrap, worker_role=role)
    agents = {
        agent.name.rsplit(".", 1)[-1]: sorted(agent.channel.topics) for agent in app.agents.values()
    }
    assert agents == expected
    # What the lag gauge and the catch-up waits watch: every input but the worker's own timer.
    read = {topic for topics in expected.values() for topic in topics} - {"clinical.timer"}
    assert set(consumed_topics(role)) == read


def test_without_a_roster_there_is_no_alerting_stage(
    tmp_path: Path, bootstrap: KafkaConnection
) -> None:
    assert not {a for a in _agents(tmp_path, bootstrap) if "alert" in a or "notify" in a}


def test_a_roster_adds_the_lifecycle_and_one_agent_per_channel(
    tmp_path: Path, bootstrap: KafkaConnection
) -> None:
    roster = write_roster(tmp_path / "r.toml", channels=["acm", "pager"], extra=CHANNELS)
    agents = _agents(
        tmp_path, bootstrap, alerting_config=roster, ack_token="a-token-of-16-chars-or-more"
    )
    assert {"alert_lifecycle", "notify_acm", "notify_pager"} <= agents


def test_the_nurse_station_needs_a_token(tmp_path: Path, bootstrap: KafkaConnection) -> None:
    roster = write_roster(tmp_path / "r.toml")
    with pytest.raises(SettingsError, match="PUMPSTREAM_ACK_TOKEN"):
        _agents(tmp_path, bootstrap, alerting_config=roster, ack_token="short")
    assert "alert_lifecycle" in _agents(
        tmp_path, bootstrap, alerting_config=roster, nurse_station_port=0
    )


def test_a_bad_roster_names_the_file_and_field(tmp_path: Path, bootstrap: KafkaConnection) -> None:
    roster = tmp_path / "r.toml"
    roster.write_text('default_ward = "x"\n[wards.x]\nchain = []\n', encoding="utf-8")
    with pytest.raises(
        RosterError, match=r"r\.toml: wards\.x\.chain: Tuple should have at least 1"
    ):
        _agents(tmp_path, bootstrap, alerting_config=roster, nurse_station_port=0)


def test_the_app_takes_its_connection_and_group_membership_from_the_settings(
    tmp_path: Path,
) -> None:
    """Faust hands ``broker_credentials`` to every client it builds; static membership keeps a
    restarted StatefulSet pod's partitions."""
    kafka = KafkaConnection(
        "kafka-0:9093,kafka-1:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="worker",
        sasl_password=SecretStr("pw"),
    )
    app = _app(tmp_path, kafka, group_instance_id="pumpstream-worker-0")
    assert [str(url) for url in app.conf.broker] == ["kafka://kafka-0:9093", "kafka://kafka-1:9093"]
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.mechanism.value == "SCRAM-SHA-512"
    assert app.conf.consumer_group_instance_id == "pumpstream-worker-0"
