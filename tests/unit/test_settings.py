"""Settings come from PUMPSTREAM_* variables; a bad one is named with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.exceptions import SettingsError
from streams.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PUMPSTREAM_"):
            monkeypatch.delenv(name)


def test_defaults_are_safe() -> None:
    settings = load_settings()
    assert settings.kafka_bootstrap is None
    assert settings.uses_embedded_broker
    assert settings.bind_address == "127.0.0.1"
    assert settings.lookback_window_s is None  # the rules file decides (60 min)
    assert settings.data_dir == Path(".pumpstream")


def test_values_come_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMPSTREAM_KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:9093")
    monkeypatch.setenv("PUMPSTREAM_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("PUMPSTREAM_LOOKBACK_WINDOW_S", "1800")
    settings = load_settings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9093"
    assert settings.topic_partitions == 12
    assert settings.lookback_window_s == 1800
    assert not settings.uses_embedded_broker


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        pytest.param("PUMPSTREAM_KAFKA_BOOTSTRAP", "kafka:x", "is not host:port", id="bad-port"),
        pytest.param("PUMPSTREAM_KAFKA_BOOTSTRAP", "kafka", "is not host:port", id="no-port"),
        pytest.param("PUMPSTREAM_TOPIC_PARTITIONS", "x", "valid integer", id="partitions-text"),
        pytest.param("PUMPSTREAM_TOPIC_PARTITIONS", "0", "greater than or equal to 1", id="partitions-0"),
        pytest.param("PUMPSTREAM_BIND_ADDRESS", "everywhere", "IP", id="bind-not-ip"),
        pytest.param("PUMPSTREAM_LOOKBACK_WINDOW_S", "5", "greater than or equal to 60", id="window-too-short"),
        pytest.param("PUMPSTREAM_LOG_LEVEL", "loud", "debug", id="log-level"),
        pytest.param("PUMPSTREAM_APP_ID", "Pump Stream", "pattern", id="app-id"),
    ],
)  # fmt: skip
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"{variable}: {value!r}" in message
    assert reason in message


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMPSTREAM_TOPIC_PARTITIONS", "x")
    monkeypatch.setenv("PUMPSTREAM_METRICS_PORT", "70000")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "PUMPSTREAM_TOPIC_PARTITIONS" in str(caught.value)
    assert "PUMPSTREAM_METRICS_PORT: '70000'" in str(caught.value)


def test_the_metrics_port_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().metrics_port == 6066
    monkeypatch.setenv("PUMPSTREAM_METRICS_PORT", "0")
    assert load_settings().metrics_port == 0


@pytest.mark.parametrize(
    ("environment", "port"),
    [
        pytest.param({"PUMPSTREAM_WEB_PORT": "7000"}, 7000, id="old-name-alone"),
        pytest.param({"PUMPSTREAM_WEB_PORT": "0"}, 0, id="old-name-disables"),
        pytest.param({"PUMPSTREAM_WEB_PORT": "7000", "PUMPSTREAM_METRICS_PORT": "7001"}, 7001, id="new-name-wins"),
    ],
)  # fmt: skip
def test_the_old_web_port_variable_still_works_with_a_deprecation_message(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    environment: dict[str, str],
    port: int,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.warns(
        DeprecationWarning, match="PUMPSTREAM_WEB_PORT is deprecated.*PUMPSTREAM_METRICS_PORT"
    ):
        settings = load_settings()
    assert settings.metrics_port == port
    assert "rename it PUMPSTREAM_METRICS_PORT" in caplog.text  # the operator's log line


def test_a_bad_old_web_port_is_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMPSTREAM_WEB_PORT", "70000")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid settings:\n  PUMPSTREAM_WEB_PORT: '70000': Input should be less than or equal to 65535"
    )
