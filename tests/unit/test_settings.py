"""Settings come from PUMPSTREAM_* variables; a bad one is named with its reason."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from streams.exceptions import PumpstreamError, SettingsError
from streams.settings import load_settings
from streams.worker import tune_garbage_collector


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
        pytest.param("PUMPSTREAM_GC_THRESHOLDS", "10000,50", "three non-negative integers", id="gc-two"),
        pytest.param("PUMPSTREAM_GC_THRESHOLDS", "a,b,c", "three non-negative integers", id="gc-text"),
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


def test_the_worker_sets_the_gc_thresholds_from_their_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector(load_settings())
        assert gc.get_threshold() == (10000, 50, 100)
        monkeypatch.setenv("PUMPSTREAM_GC_THRESHOLDS", " 700, 10 ,10")
        tune_garbage_collector(load_settings())
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


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


def test_an_unknown_variable_stops_start_up_with_the_valid_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SSL_CAFILE", "/etc/ca.pem")  # a plausible typo
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("unknown setting(s) PUMPSTREAM_KAFKA_SSL_CAFILE:")
    assert "PUMPSTREAM_KAFKA_SSL_CA_FILE" in message.split("valid names:")[1]


def test_every_setting_variable_is_documented_in_the_readme() -> None:
    from streams.settings import setting_variables

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert [v for v in setting_variables() if v not in readme] == []


def test_security_settings_build_the_kafka_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a client connects", encoding="utf-8")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_BOOTSTRAP", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SSL_CA_FILE", str(ca))
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_USERNAME", "pumpstream-worker")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_PASSWORD", "hunter2-hunter2")
    kafka = load_settings().kafka_connection()
    assert kafka.bootstrap == "kafka-1:9093,kafka-2:9093"
    assert (kafka.security_protocol, kafka.ssl_ca_file, kafka.sasl_mechanism) == (
        "SASL_SSL", ca, "SCRAM-SHA-512",
    )  # fmt: skip
    assert kafka.sasl_password is not None
    assert kafka.sasl_password.get_secret_value() == "hunter2-hunter2"
    assert "hunter2" not in repr(kafka)
    assert "hunter2" not in kafka.describe()


def test_secrets_can_come_from_files_in_the_secrets_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As a Kubernetes secret volume mounts them: one file per variable."""
    (tmp_path / "PUMPSTREAM_KAFKA_SASL_PASSWORD").write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.setenv("PUMPSTREAM_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_USERNAME", "u")
    password = load_settings().kafka_sasl_password
    assert password is not None
    assert password.get_secret_value() == "from-a-file"  # the file's newline is not part of it
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_PASSWORD", "from-the-environment")
    password = load_settings().kafka_sasl_password
    assert password is not None
    assert password.get_secret_value() == "from-the-environment"  # the environment wins


def test_a_missing_secrets_dir_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PUMPSTREAM_SECRETS_DIR", str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match=r"PUMPSTREAM_SECRETS_DIR=\S+: no such directory"):
        load_settings()


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        pytest.param({"PUMPSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs PUMPSTREAM_KAFKA_SASL_MECHANISM", id="sasl-without-credentials"),
        pytest.param({"PUMPSTREAM_KAFKA_SASL_USERNAME": "u"}, "SASL credentials are set but", id="credentials-without-sasl"),
        pytest.param({"PUMPSTREAM_KAFKA_SSL_CA_FILE": "{ca}"}, "TLS files are set but", id="ca-without-tls"),
        pytest.param({"PUMPSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL", "PUMPSTREAM_KAFKA_SSL_CERT_FILE": "{ca}"}, "needs both", id="cert-without-key"),
        pytest.param({"PUMPSTREAM_KAFKA_SSL_CA_FILE": "/no/such/ca.pem"}, "no such file", id="missing-ca-file"),
        pytest.param({"PUMPSTREAM_KAFKA_SASL_MECHANISM": "GSSAPI"}, "PLAIN", id="unsupported-mechanism"),
        pytest.param({"PUMPSTREAM_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SASL_SSL", id="unknown-protocol"),
    ],
)  # fmt: skip
def test_incomplete_security_settings_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: dict[str, str], reason: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem", encoding="utf-8")
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(ca=ca))
    with pytest.raises(SettingsError, match=reason):
        load_settings()


def test_a_bad_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_PASSWORD", "correct-horse-battery")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "correct-horse" not in str(caught.value)


def test_without_a_bootstrap_the_connection_says_what_to_do() -> None:
    with pytest.raises(PumpstreamError, match="PUMPSTREAM_KAFKA_BOOTSTRAP is not set"):
        load_settings().kafka_connection()
