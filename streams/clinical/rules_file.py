"""The clinical rules file: one versioned, validated TOML document of thresholds, windows and
priorities (defaults: ``ivig-back-pain.toml`` beside this module, matching DOMAIN.md §1)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.alerts import AlertPriority
from schemas.validation_errors import problem_lines
from streams.exceptions import RulesFileError

DEFAULT_RULES_FILE = Path(__file__).with_name("ivig-back-pain.toml")

Minutes = Annotated[float, Field(gt=0, le=7 * 24 * 60)]
Nrs = Annotated[int, Field(ge=0, le=10)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timing(_Section):
    grace_min: Annotated[float, Field(ge=0, le=60)]

    @cached_property
    def grace(self) -> timedelta:
        # (Cached: every telemetry reading asks for it.)
        return timedelta(minutes=self.grace_min)


class PainBands(_Section):
    medium_from: Annotated[int, Field(ge=1, le=10)]
    high_from: Annotated[int, Field(ge=1, le=10)]
    resolved_at_or_below: Nrs
    meaningful_change: Annotated[int, Field(ge=1, le=10)]

    @model_validator(mode="after")
    def _ordered(self) -> PainBands:
        if not self.resolved_at_or_below < self.medium_from < self.high_from:
            raise ValueError("need resolved_at_or_below < medium_from < high_from")
        return self

    def priority(self, pain_score: int) -> AlertPriority:
        if pain_score >= self.high_from:
            return AlertPriority.HIGH
        if pain_score >= self.medium_from:
            return AlertPriority.MEDIUM
        return AlertPriority.LOW


class R1(_Section):
    lookback_window_min: Minutes
    slow_fraction: Annotated[float, Field(gt=0, lt=1)]

    @property
    def lookback_window(self) -> timedelta:
        return timedelta(minutes=self.lookback_window_min)


class R2(_Section):
    vitals_window_min: Minutes
    heart_rate_above_bpm: Annotated[float, Field(gt=0, le=300)]
    heart_rate_rise_over_baseline_bpm: Annotated[float, Field(gt=0, le=200)]
    systolic_below_mmhg: Annotated[float, Field(gt=0, le=300)]
    systolic_change_from_baseline_mmhg: Annotated[float, Field(gt=0, le=200)]
    temperature_at_or_above_c: Annotated[float, Field(ge=35, le=45)]
    spo2_below_percent: Annotated[float, Field(gt=0, le=100)]
    baseline_max_age_min: Minutes
    priority: AlertPriority

    @cached_property
    def vitals_window(self) -> timedelta:
        # (Cached: every telemetry reading asks for it, and a timedelta of float minutes
        # costs about a microsecond to build.)
        return timedelta(minutes=self.vitals_window_min)

    @cached_property
    def baseline_max_age(self) -> timedelta:
        return timedelta(minutes=self.baseline_max_age_min)


class R3(_Section):
    after_infusion_start_h: Annotated[float, Field(gt=0, le=24 * 14)]
    priority: AlertPriority


class R4(_Section):
    priority_steps: Annotated[int, Field(ge=0, le=2)]
    high_dose_g_kg: Annotated[float, Field(gt=0, le=3)]


class R5(_Section):
    persistence_window_min: Minutes
    priority: AlertPriority
    priority_with_neuro_signs: AlertPriority

    @property
    def persistence_window(self) -> timedelta:
        return timedelta(minutes=self.persistence_window_min)


class R6(_Section):
    repeated_infusions: Annotated[int, Field(ge=2, le=100)]
    priority: AlertPriority


class R7(_Section):
    cap_fraction_of_onset: Annotated[float, Field(gt=0, le=1)]
    priority: AlertPriority


class R8(_Section):
    risk_max_mg_kg_min: Annotated[float, Field(gt=0, le=20)]
    priority: AlertPriority


class Technical(_Section):
    """Blind spots (``blind_spots.py``): how long pump events may wait for their infusion's
    start, and vital signs or a status-reporting pump may be silent mid-infusion, before a
    technical alert."""

    missing_start_wait_min: Annotated[float, Field(gt=0, le=240)] = 5.0
    vitals_silent_min: Annotated[float, Field(gt=0, le=240)] = 15.0
    #: The least a status-reporting pump may be silent mid-infusion before T3 (at least three of
    #: its usual intervals).
    pump_silent_min: Annotated[float, Field(gt=0, le=240)] = 10.0


class RulesConfig(_Section):
    """Every threshold the rules read; ``version`` is stamped on every alert."""

    version: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/+-]+$")]
    timing: Timing
    pain_bands: PainBands
    r1: R1
    r2: R2
    r3: R3
    r4: R4
    r5: R5
    r6: R6
    r7: R7
    r8: R8
    technical: Technical = Technical()

    def with_lookback_window(self, minutes: float | None) -> RulesConfig:
        """This config with R1's window replaced (the PUMPSTREAM_LOOKBACK_WINDOW_S override)."""
        if minutes is None:
            return self
        r1 = self.r1.model_copy(update={"lookback_window_min": minutes})
        return self.model_copy(update={"r1": r1})


def rules_for(rules_file: Path | None, lookback_window_s: int | None) -> RulesConfig:
    """The rules a worker runs: the file, with the ``PUMPSTREAM_LOOKBACK_WINDOW_S`` override."""
    rules = load_rules(rules_file)
    return rules.with_lookback_window(None if lookback_window_s is None else lookback_window_s / 60)


def load_rules(path: Path | None = None) -> RulesConfig:
    """Read and validate a rules file; raise :class:`RulesFileError` naming the field and reason."""
    source = path or DEFAULT_RULES_FILE
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesFileError(f"rules file {source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RulesFileError(f"rules file {source}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesFileError(f"rules file {source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise RulesFileError(f"rules file {source}: not valid TOML: nested too deeply") from None
    try:
        return RulesConfig.model_validate(document)
    except ValidationError as exc:
        problems = problem_lines(exc, value=True)
        raise RulesFileError(f"rules file {source}:\n  " + "\n  ".join(problems)) from None
