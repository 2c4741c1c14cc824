"""The models a patient's state is made of share pydantic's record of the fields set
(``schemas.base.SharesFieldsSet``): one set for many instances, never changed through one of
them, and a frozen model's still saying which fields were given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.cli.telemetry_bench_inprocess import _started
from streams.clinical.infusion_state import PumpFact
from streams.clinical.rules_file import load_rules
from streams.clinical.state import PatientState

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _fields_sets(state: PatientState) -> list[set[str]]:
    infusion = state.infusion
    assert infusion is not None
    return [
        state.__pydantic_fields_set__,
        infusion.__pydantic_fields_set__,
        infusion.context.__pydantic_fields_set__,
        *(fact.__pydantic_fields_set__ for fact in infusion.facts),
    ]


def test_two_patients_states_share_every_fields_set() -> None:
    rules = load_rules()
    one, other = _started("pt-one", rules, T0), _started("pt-two", rules, T0)
    assert len(_fields_sets(one)) == 4  # (the state, its infusion, the context, one fact)
    for mine, theirs in zip(_fields_sets(one), _fields_sets(other), strict=True):
        assert mine is theirs


def test_a_working_copy_shares_them_and_an_assignment_changes_no_other_state() -> None:
    rules = load_rules()
    state = _started("pt-one", rules, T0)
    before = [set(fields) for fields in _fields_sets(state)]
    copy = state.working_copy()
    assert all(a is b for a, b in zip(_fields_sets(copy), _fields_sets(state), strict=True))
    copy.watermark = T0 + timedelta(hours=1)
    copy.quiet_horizon = T0
    assert [set(fields) for fields in _fields_sets(state)] == before
    assert state.watermark != copy.watermark
    # A mutable model's instances count every field as set.
    assert state.model_fields_set == set(PatientState.model_fields)


def test_a_frozen_models_set_says_which_fields_were_given() -> None:
    without_rate = PumpFact(infusion_id="inf-1", event_id="e1", event_time=T0, status="paused")
    with_rate = PumpFact(
        infusion_id="inf-1", event_id="e2", event_time=T0, status="running", rate_ml_h=30.0
    )
    given = {"infusion_id", "event_id", "event_time", "status"}
    assert without_rate.model_fields_set == given
    assert with_rate.model_fields_set == given | {"rate_ml_h"}
    again = PumpFact(infusion_id="inf-2", event_id="e3", event_time=T0, status="stopped")
    assert again.__pydantic_fields_set__ is without_rate.__pydantic_fields_set__
    # A copy with an update adds the update's names to its own record, not to the shared one.
    updated = without_rate.model_copy(update={"rate_ml_h": 10.0})
    assert updated.model_fields_set == given | {"rate_ml_h"}
    assert updated.__pydantic_fields_set__ is with_rate.__pydantic_fields_set__
    assert without_rate.model_fields_set == given
    assert again.model_fields_set == given


def test_the_table_value_does_not_depend_on_the_record() -> None:
    """What a state writes is the same whatever the records say (nothing dumps these models
    with ``exclude_unset``, the one thing sharing them would change): a state's table value,
    then every model's record emptied, the same bytes."""
    rules = load_rules()
    state = _started("pt-one", rules, T0)
    written = state.to_table_value()
    infusion = state.infusion
    assert infusion is not None
    for model in (state, infusion, infusion.context, *infusion.facts):
        object.__setattr__(model, "__pydantic_fields_set__", set())
    assert state.to_table_value() == written
    assert state.working_copy().to_table_value() == written
