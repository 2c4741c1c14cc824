"""The fuzz tests' fixed budget: derandomized (the same examples on every run, so a failure is
reproducible and the suite's time is stable), no example database, no per-example deadline (two
shared cores make single examples slow now and then; the budget is the number of examples)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def budget(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` derandomized examples."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
