"""Episodes and their endings are a function of the set of events, not of their arrival order
(issue 14, item 2; docs/clinical-rules.md, "Arrival order").

Every row of the clinical scenario table (tests/support/clinical_scenarios.py) and of the R1 table
(test_r1_scenarios.py), its events in any order (hypothesis ``st.permutations``), gives the same
:class:`EpisodesAndEndings` as in the row's listed order, which is also the event-time order; and
so do generated sets of events (one or two infusions, rate steps, pauses, stops, pain, vitals, a
nurse's answer) in any order, against the event-time order.
Compared per rule: the episodes (their infusion, final priority, how each ended or that it is
still open, R4's modifiers), the reactions documented, the episodes still open. Not compared:
alert ids (a page already sent keeps the id the first trigger read gave it), event times and
"(late: N min)" in titles, and episodes withdrawn (published while the events read so far
supported them; each must be ended, and never documented). Technical alerts (T1 a start that has
not arrived, T2 silent vital signs: streams/clinical/blind_spots.py) are about the feed's arrival
itself, so they are left out; so are the phases of R1 judged on an infusion inferred while its
start had not arrived (provisional by nature: what R1 proper publishes once the start arrives,
under the same alert id or its own, is compared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.alerts import AckResponse, ActionTaken, Alert, AlertPhase, AlertType
from streams.clinical.blind_spots import on_inferred_infusion
from streams.clinical.state import ClinicalEventModel, PatientState
from tests.support.clinical_scenarios import SCENARIOS, run_steps
from tests.support.events import Patient
from tests.unit.clinical.test_r1_scenarios import SCENARIOS as R1_ROWS
from tests.unit.clinical.test_r1_scenarios import P as R1_PATIENT

#: Orders tried per row: 77 rows x 60 orders run in about 10 s (every order of every row, 34,642
#: runs, was checked once while writing the test: all equal).
ORDERS_PER_ROW = 60
#: Generated sets of events, one arrival order each (3,300 sets in 8 orders each were checked
#: once while writing the test: all equal).
GENERATED_SETS = 200

_ENDED = re.compile(r"^Ended, (.*?): ")


@dataclass(frozen=True, order=True)
class EpisodeOutcome:
    """One episode of a rule as the alerts show it."""

    infusion_id: str
    #: Of its last alert (an update may raise it; a late event that took a report's support away
    #: may lower it).
    priority: str
    #: "open", or the reason its last end phase gives ("infusion stopped", "marked false
    #: positive by the nurse"...): a corrected end, published when a late event showed another
    #: ending, is the last.
    ending: str
    modifiers: tuple[str, ...]


@dataclass(frozen=True)
class EpisodesAndEndings:
    """What must not depend on the arrival order."""

    episodes: dict[str, tuple[EpisodeOutcome, ...]]
    #: (rule, infusion, outcome, nurse's response) of each documented reaction.
    reactions: tuple[tuple[str, str, str, str | None], ...]
    #: (rule, infusion) of each episode still open.
    still_open: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, alerts: Iterable[Alert], state: PatientState) -> EpisodesAndEndings:
        withdrawn = {e.alert_id for e in state.ended_episodes if e.withdrawn}
        documented = {r.alert_id for r in state.reactions}
        phases: dict[str, list[Alert]] = {}
        for alert in alerts:
            if alert.type is AlertType.TECHNICAL or on_inferred_infusion(alert):
                continue
            phases.setdefault(alert.alert_id, []).append(alert)
        episodes: dict[str, list[EpisodeOutcome]] = {}
        for alert_id, its in phases.items():
            kinds = [a.phase for a in its]
            assert kinds[0] is AlertPhase.START, f"{alert_id}: {kinds}"
            ends = [i for i, kind in enumerate(kinds) if kind is AlertPhase.END]
            assert not ends or all(k is AlertPhase.END for k in kinds[ends[0] :]), kinds
            if alert_id in withdrawn:
                assert ends, "a withdrawn episode is ended"
                assert alert_id not in documented, "a withdrawn episode is not documented"
                continue
            last = its[-1]
            ended = _ENDED.match(its[ends[-1]].title) if ends else None
            if ends:
                assert ended is not None, its[ends[-1]].title
            episodes.setdefault(last.rule, []).append(
                EpisodeOutcome(
                    last.infusion_id,
                    last.priority.value,
                    ended.group(1) if ended else "open",
                    tuple(sorted({m for a in its for m in a.modifiers})),
                )
            )
        return cls(
            {rule: tuple(sorted(outcomes)) for rule, outcomes in episodes.items()},
            tuple(
                sorted(
                    (r.rule, r.infusion_id, r.outcome, r.nurse_response) for r in state.reactions
                )
            ),
            tuple(sorted((e.rule.value, e.infusion_id) for e in state.episodes.values())),
        )


def _outcome(ref: str, events: Sequence[ClinicalEventModel]) -> EpisodesAndEndings:
    return EpisodesAndEndings.of(*run_steps(ref, events))


_LISTED: dict[str, EpisodesAndEndings] = {}


def _listed(name: str, ref: str, events: Sequence[ClinicalEventModel]) -> EpisodesAndEndings:
    """The outcome of the row's listed order (computed once per row)."""
    if name not in _LISTED:
        _LISTED[name] = _outcome(ref, events)
    return _LISTED[name]


def _rows() -> list[Any]:
    rows = [
        pytest.param(name, list(scenario.build(Patient("pt-order"))), "pt-order", id=name)
        for name, scenario in SCENARIOS.items()
    ]
    for row in R1_ROWS:
        events, _ = row.values
        rows.append(pytest.param(f"r1:{row.id}", events, R1_PATIENT.ref, id=f"r1:{row.id}"))
    return rows


ROWS = _rows()


@pytest.mark.parametrize(("name", "events", "ref"), ROWS)
def test_the_listed_order_is_the_event_time_order(
    name: str, events: list[ClinicalEventModel], ref: str
) -> None:
    """The table's expectations hold for events read on time, not only as listed."""
    on_time = sorted(events, key=lambda e: (e.event_time, e.event_id))
    assert _outcome(ref, on_time) == _listed(name, ref, events)


@pytest.mark.parametrize(("name", "events", "ref"), ROWS)
@settings(
    max_examples=ORDERS_PER_ROW,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_arrival_order_gives_the_same_episodes_and_endings(
    name: str, events: list[ClinicalEventModel], ref: str, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(events), label="arrival order")
    assert _outcome(ref, order) == _listed(name, ref, events), [e.event_id for e in order]


PT = Patient("pt-any")
_minutes = st.integers(min_value=1, max_value=200)


@st.composite
def event_sets(draw: st.DrawFn) -> list[ClinicalEventModel]:
    """One patient's events: an infusion (its rate steps, pauses, resumptions, maybe its stop or
    completion), maybe a next one, back pain (some with neurological signs), vital signs, maybe a
    nurse's answer to one of the reports' alerts."""
    age = draw(st.sampled_from([50, 70]))
    events: list[ClinicalEventModel] = [PT.start(0, draw(st.sampled_from([42.0, 84.0])), age=age)]
    rates = st.sampled_from([42.0, 84.0, 168.0, 525.0])
    for kind, minute, rate in draw(
        st.lists(
            st.tuples(st.sampled_from(["rate", "pause", "resume"]), _minutes, rates), max_size=5
        )
    ):
        if kind == "rate":
            events.append(PT.rate(minute, rate))
        elif kind == "pause":
            events.append(PT.pause(minute))
        else:
            events.append(PT.resume(minute, rate))
    end = draw(st.sampled_from([None, PT.stop, PT.done]))
    if end is not None:
        events.append(end(draw(_minutes)))
    if draw(st.booleans()):
        start_b = draw(st.sampled_from([150, 300, 2000]))
        events.append(PT.start(start_b, infusion="b", age=age))
        steps_b = st.lists(st.tuples(st.integers(5, 60), rates), max_size=2)
        events += [PT.rate(start_b + m, r, infusion="b") for m, r in draw(steps_b)]
    pains = draw(
        st.lists(st.tuples(_minutes, st.sampled_from([0, 2, 4, 6, 8]), st.booleans()), min_size=1)
    )
    events += [
        PT.pain(m, nrs, tingling=True) if neuro else PT.pain(m, nrs) for m, nrs, neuro in pains
    ]
    heart_rates = st.lists(st.tuples(_minutes, st.sampled_from([80, 130])), max_size=2)
    events += [PT.vitals(m, hr=hr) for m, hr in draw(heart_rates)]
    if draw(st.booleans()):
        minute, _, _ = draw(st.sampled_from(pains))
        events.append(
            PT.ack(
                minute + draw(st.sampled_from([2, 5])),
                draw(st.sampled_from(["R1", "R2"])),
                f"{PT.ref}-pain-{minute:g}",
                draw(st.sampled_from([AckResponse.FALSE_POSITIVE, AckResponse.TRUE_POSITIVE])),
                draw(st.sampled_from(list(ActionTaken))),
            )
        )
    return list({e.event_id: e for e in events}.values())  # one event per id


@settings(max_examples=GENERATED_SETS, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_generated_events_in_any_order_give_the_same_episodes_and_endings(
    data: st.DataObject,
) -> None:
    events = data.draw(event_sets(), label="events")
    order = data.draw(st.permutations(events), label="arrival order")
    on_time = sorted(events, key=lambda e: (e.event_time, e.event_id))
    assert _outcome(PT.ref, order) == _outcome(PT.ref, on_time), [e.event_id for e in order]


def test_every_row_is_tried() -> None:
    assert len(ROWS) == len(SCENARIOS) + len(R1_ROWS) >= 70
