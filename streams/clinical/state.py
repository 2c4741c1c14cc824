"""Per-patient state: the current infusion (and the two before it), recent reports, vital
signs, acknowledgements, the reaction ledger and the episodes, open and ended.

Pure data and functions (no Faust, no I/O): :func:`streams.clinical.step.clinical_step` applies an
event to a :class:`PatientState` (:func:`apply_event`); the clinical agent loads and stores it. One
infusion's own state (its pump facts and rate history) is ``infusion_state.py``'s.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, PrivateAttr, TypeAdapter

from schemas.alerts import AlertAck
from schemas.base import SharesFieldsSet, event_time_sort_key
from schemas.events import (
    InfusionCompleted,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    InfusionStopped,
    PumpAlarm,
    PumpStatus,
    RateChanged,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.reactions import ReactionRecord
from streams.clinical.changelog_marks import ChangelogMarks
from streams.clinical.episodes import ClinicalEpisode, EndedEpisode
from streams.clinical.infusion_state import InfusionState, PumpFact, fact_order
from streams.clinical.kept_readings import Judge, KeptReadings, micros
from streams.clinical.rules_file import R2, RulesConfig
from streams.clinical.vitals_assessment import (
    NormalTenths,
    Reading,
    normal_tenths,
    usable_baseline,
    values_findings,
    worst_near,
)

#: Event ids (of every event but vital signs) remembered per patient for idempotence (an
#: infusion has a few dozen pump events and reports).
SEEN_EVENT_IDS_KEPT = 2000
SYMPTOM_REPORTS_KEPT = 50
UNMATCHED_FACTS_KEPT = 200
VITALS_KEPT = 300
ACKS_KEPT = 50
INFUSIONS_REMEMBERED = 50
REACTIONS_KEPT = 50
#: Infusions started before the current one, kept (with their pump facts) so that their own
#: events arriving after the next infusion started are still judged against them.
EARLIER_INFUSIONS_KEPT = 2
#: Ended episodes remembered per infusion and rule (older ones become a floor).
ENDED_EPISODES_KEPT = 10
#: Fields added after the recorded table format: left out of the table value while empty, so
#: that a state without them is stored byte for byte as before.
ADDED_TABLE_FIELDS = (
    "earlier_infusions",
    "ended_episodes",
    "quiet_horizon",
    "late_arrivals",
    "technical_alerts",
    "last_vitals_arrival_epoch_s",
    "last_pump_arrival_epoch_s",
    "earlier_abnormal_readings",
    "changelog_seq",
)
#: How many earlier abnormal vital-signs sets past R2's horizon (and not read by R2 for a kept
#: report) wait before they are pruned together (at 1 Hz, once a minute, not on every reading).
PRUNED_AT_ONCE = 60
#: Late-arrived event ids remembered per patient (their alerts say "late").
LATE_ARRIVALS_KEPT = 50


_READING_LIST = TypeAdapter(list[Reading])


def _kept(value: Any) -> KeptReadings:
    """The sets of a state read back (JSON arrays, as ``list[Reading]``), in columns."""
    if isinstance(value, KeptReadings):
        return value
    return KeptReadings(_READING_LIST.validate_python(value))


#: The newest sets: in columns in memory (``kept_readings.py``), a list of JSON arrays in the
#: table value and on the changelog, as they always were.
Kept = Annotated[
    KeptReadings, PlainValidator(_kept), PlainSerializer(list, return_type=list[Reading])
]


#: The rules, the current infusion's baseline and first fact, and the ranges found for them.
_NormalFor = tuple[R2, Reading | None, PumpFact | None, NormalTenths]

#: The field values :meth:`PatientState.working_copy` copies (by exact type: ``isinstance``
#: against ``KeptReadings``, an abstract ``Sequence``, went through the ABC machinery for every
#: field and was a third of the copy).
_CONTAINERS = frozenset({list, dict, KeptReadings})


class PatientState(SharesFieldsSet, BaseModel):
    """Everything the pipeline keeps about one patient (one Faust table entry)."""

    patient_ref: str
    #: The current infusion: the one whose start is latest in event time (not the last read).
    infusion: InfusionState | None = None
    #: Infusions that started before the current one (the newest ``EARLIER_INFUSIONS_KEPT``),
    #: oldest first: their late events are still judged against their own facts.
    earlier_infusions: list[InfusionState] = []
    #: Vital-signs sets (as the rules read them) sorted by event time and id, the newest
    #: ``VITALS_KEPT``, in columns.
    readings: Kept = Field(default_factory=KeptReadings)
    #: Abnormal vital-signs sets older than every one in ``readings`` that R2 may still read,
    #: sorted (:func:`_keep_for_r2`): at 1 Hz the newest ``VITALS_KEPT`` are only 5 minutes,
    #: less than R2's window either side of a report.
    earlier_abnormal_readings: list[Reading] = []
    recent_symptoms: list[SymptomReport] = []
    seen_event_ids: list[str] = []
    #: Open episodes, by rule (one open episode per rule; the key is the ``Rule`` value).
    episodes: dict[str, ClinicalEpisode] = {}
    #: Per ``infusion_id:rule``: event time up to which triggers belong to ended episodes.
    #: Still written as before (older workers read it); the correlator reads ``ended_episodes``
    #: and falls back on this only for a state stored before that existed.
    closed_until: dict[str, datetime] = {}
    #: Episodes ended, of the infusions kept (``ENDED_EPISODES_KEPT`` per infusion and rule).
    ended_episodes: list[EndedEpisode] = []
    #: Pump facts of an infusion whose start has not arrived (yet): applied when it does.
    unmatched_pump_facts: list[PumpFact] = []
    #: Infusion ids seen for this patient, oldest first (R6 counts repeated infusions).
    infusions_seen: list[str] = []
    #: Nurse responses to this patient's alerts.
    acks: list[AlertAck] = []
    #: Documented reactions (the ``reactions`` ledger), oldest first.
    reactions: list[ReactionRecord] = []
    #: Event ids that arrived later than the grace behind the patient's newest event time, with
    #: how late (minutes): an alert is "late" only when its own trigger is among them (issue 12).
    late_arrivals: dict[str, float] = {}
    #: Open technical alerts (``blind_spots.py``): blind-spot key -> the alert's JSON.
    technical_alerts: dict[str, str] = {}
    #: When this patient's last vital signs arrived (epoch s, the agent's clock): T2 needs the
    #: monitor silent in arrival time as well as in event time.
    last_vitals_arrival_epoch_s: float | None = None
    #: When this patient's last pump event arrived (epoch s, the agent's clock): T3 needs the
    #: pump silent in arrival time as well as in event time.
    last_pump_arrival_epoch_s: float | None = None
    #: The newest event time seen for this patient: events older than it by more than the grace
    #: are late.
    watermark: datetime | None = None
    #: Wall-clock time (epoch s) the last event for this patient arrived; the R5 timer acts only
    #: when the patient's streams have gone quiet.
    last_arrival_epoch_s: float | None = None
    #: The latest event time the R5 timer found this patient's streams quiet at (its horizon):
    #: an R5 check it made due stays due.
    quiet_horizon: datetime | None = None
    #: The vital-signs sets as a table value written before issue 15 holds them (whole
    #: ``VitalSigns``): read into ``readings`` on load, never written.
    vitals: list[VitalSigns] = Field(default=[], exclude=True, repr=False)
    #: The changelog's bookkeeping, not the patient's: the number of the last checkpoint that
    #: wrote this state (``state_changelog.py``). Not compared by ``==``.
    changelog_seq: int = 0

    #: What the changelog holds of this state and what it still lacks
    #: (``streams/clinical/state_changelog.py``).
    _changelog: ChangelogMarks = PrivateAttr(default_factory=ChangelogMarks)
    #: The last ``normal_tenths`` of this state, with what it was found for (``_r2_normal``).
    _r2_normal: _NormalFor | None = PrivateAttr(default=None)

    @property
    def changelog_marks(self) -> ChangelogMarks:
        """``_changelog``, read from the private attributes directly: pydantic's own lookup of a
        private attribute costs ~3.4 us (it probes the attribute for ``__get__`` through an
        exception), against ~0.1 us here, and a reading reads it (docs/benchmarks.md)."""
        private = self.__pydantic_private__
        assert private is not None
        marks: ChangelogMarks = private["_changelog"]
        return marks

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.vitals:
            self.readings = KeptReadings(Reading.of(v) for v in self.vitals)
            self.vitals = []

    def working_copy(self) -> PatientState:
        """A copy a step may change without touching this state: every container is copied, the
        infusions as ``InfusionState.working_copy`` says, open and ended episodes deeply; the
        frozen events are shared. The clinical agent steps a copy and keeps it only when the
        step succeeded, so a message the rules raise on leaves the state as it was (a state is
        far cheaper to copy this way than to encode: tests/unit/clinical/test_state_store.py)."""
        mutable = {
            name: value.copy() if type(value) in _CONTAINERS else value
            for name, value in self.__dict__.items()
        }
        mutable["infusion"] = self.infusion.working_copy() if self.infusion else None
        mutable["earlier_infusions"] = [i.working_copy() for i in self.earlier_infusions]
        mutable["episodes"] = {k: e.model_copy(deep=True) for k, e in self.episodes.items()}
        mutable["ended_episodes"] = [e.model_copy(deep=True) for e in self.ended_episodes]
        copy = self.model_copy(update=mutable)
        copy._changelog = self.changelog_marks.copy()
        return copy

    def __eq__(self, other: object) -> bool:
        """Equal fields (the changelog's bookkeeping is not part of the state)."""
        if not isinstance(other, PatientState):
            return NotImplemented
        mine, theirs = dict(self.__dict__), dict(other.__dict__)
        del mine["changelog_seq"], theirs["changelog_seq"]
        return mine == theirs

    def add_reading(
        self,
        reading: Reading,
        keep: Judge | None = None,
        normal: NormalTenths | None = None,
        *,
        drop: bool = True,
    ) -> list[Reading]:
        """Insert ``reading`` in order (a set of the same time and id is a duplicate: never
        added, see ``_reading_seen_before``); the sets that fell off the newest
        ``VITALS_KEPT``, all of them or those ``keep`` accepts (``KeptReadings.drop_oldest``:
        ``normal`` those it need not ask about). Without ``drop`` none falls off yet
        (``apply_reading``'s deferred drops)."""
        readings = self.readings
        index = readings.insert(reading)
        marks = self.changelog_marks
        if not marks.needs_base:  # (a base holds every set: nothing to remember until then)
            marks.added(reading, index, len(readings))
        if not drop or len(readings) <= VITALS_KEPT:
            return []
        return readings.drop_oldest(len(readings) - VITALS_KEPT, keep, normal)

    @property
    def latest_reading(self) -> Reading | None:
        return self.readings[-1] if self.readings else None

    def all_readings(self) -> Sequence[Reading]:
        """Every vital-signs set kept, sorted (the earlier abnormal ones are older than every one
        of the newest: a set joins them only when it falls off the newest)."""
        earlier = self.earlier_abnormal_readings
        return [*earlier, *self.readings] if earlier else self.readings

    def readings_between(self, start: datetime, end: datetime) -> list[Reading]:
        """The sets kept from ``start`` to ``end`` (event time, both included), in order."""
        earlier = self.earlier_abnormal_readings
        first = bisect_left(earlier, start, key=_event_time)
        last = bisect_right(earlier, end, key=_event_time)
        return [*earlier[first:last], *self.readings.between(start, end)]

    def note_late_arrival(self, event_id: str, late_by_min: float) -> None:
        """Remember that ``event_id`` arrived ``late_by_min`` late (bounded, oldest dropped)."""
        self.late_arrivals[event_id] = late_by_min
        while len(self.late_arrivals) > LATE_ARRIVALS_KEPT:
            del self.late_arrivals[next(iter(self.late_arrivals))]

    def merge_reactions(self, records: list[ReactionRecord]) -> bool:
        """Add documented reactions not yet known (by alert id); True when any was new. A record
        of an episode withdrawn here (an older ledger read back) is not added again."""
        known = {r.alert_id for r in self.reactions}
        known |= {e.alert_id for e in self.ended_episodes if e.withdrawn}
        new = [r for r in records if r.alert_id not in known]
        self.reactions.extend(new)
        self.reactions.sort(key=lambda r: event_time_sort_key(r.onset_time, r.alert_id))
        del self.reactions[:-REACTIONS_KEPT]
        return bool(new)

    def infusions(self) -> list[InfusionState]:
        """Every infusion kept, in the order they started (the current one last)."""
        current = [self.infusion] if self.infusion is not None else []
        return [*self.earlier_infusions, *current] if self.earlier_infusions else current

    def infusion_by_id(self, infusion_id: str) -> InfusionState | None:
        current = self.infusion
        if current is not None and current.infusion_id == infusion_id:
            return current
        for infusion in self.earlier_infusions:
            if infusion.infusion_id == infusion_id:
                return infusion
        return None

    def next_start_after(self, infusion: InfusionState) -> PumpFact | None:
        """The start of the infusion kept that started next after ``infusion``, if any."""
        if infusion is self.infusion:
            return None
        kept = self.infusions()
        index = next(i for i, kept_one in enumerate(kept) if kept_one is infusion)
        return kept[index + 1].facts[0] if index + 1 < len(kept) else None

    def remember_ended(self, ended: EndedEpisode) -> None:
        """Keep ``ended``; beyond ``ENDED_EPISODES_KEPT`` for its infusion and rule, the oldest
        ones fold into a floor (a trigger up to it belongs to an episode already ended)."""
        self.ended_episodes.append(ended)
        same = [
            e
            for e in self.ended_episodes
            if e.infusion_id == ended.infusion_id and e.rule == ended.rule
        ]
        if len(same) <= ENDED_EPISODES_KEPT:
            return
        dropped = same[: len(same) - ENDED_EPISODES_KEPT + 1]
        floor = dropped[0].model_copy(
            update={
                "alert_id": "",
                "trigger_event_id": "",
                "ended_time": max(e.ended_time for e in dropped),
                "withdrawn": False,
            }
        )
        gone = {id(e) for e in dropped}
        self.ended_episodes = [e for e in self.ended_episodes if id(e) not in gone]
        self.ended_episodes.insert(0, floor)

    def to_table_value(self) -> bytes:
        """The table value: JSON bytes (a base on the changelog: ``state_changelog.py``). (A
        Faust table with ``value_type=dict`` cannot recover its changelog: recovery calls
        ``dict.from_data``; bytes with the raw serializer can.)"""
        empty = {name for name in ADDED_TABLE_FIELDS if not getattr(self, name)}
        return self.model_dump_json(exclude=empty).encode()

    @classmethod
    def from_table_value(cls, patient_ref: str, value: bytes | None) -> PatientState:
        if value is None:
            return cls(patient_ref=patient_ref)
        return cls.model_validate_json(value)


PumpEventModel = (
    InfusionStarted
    | RateChanged
    | InfusionPaused
    | InfusionResumed
    | InfusionStopped
    | InfusionCompleted
    | PumpAlarm
)
ClinicalEventModel = PumpEventModel | VitalSigns | SymptomReport | AlertAck


def _remember(items: list[str], item: str, keep: int) -> None:
    items.append(item)
    del items[:-keep]


def _event_time(reading: Reading) -> datetime:
    return reading.event_time


def _reading_seen_before(state: PatientState, reading: Reading) -> bool:
    """Whether a vital-signs set was applied already: looked up in the kept readings (sorted: a
    bisection), never in the event ids: their ids are not remembered, so a monitor at 1 Hz does
    not fill the ids with its own (nor the snapshots). A set older than every kept one while the
    readings are full (``VITALS_KEPT``) counts as new: applied again, it is trimmed at once and
    changes nothing a rule reads (tests/unit/clinical/test_step.py)."""
    key = event_time_sort_key(reading.event_time, reading.event_id)
    # (An id sent again with another event time counts as a new reading here.)
    return state.readings.holds(*key) or _holds(state.earlier_abnormal_readings, key)


def _holds(readings: list[Reading], key: tuple[datetime, str]) -> bool:
    # (A reading sorts after its own (event time, id): a tuple's prefix sorts first.)
    index = bisect_left(readings, key)
    return index < len(readings) and readings[index][:2] == key


def apply_event(state: PatientState, event: ClinicalEventModel, rules: RulesConfig) -> bool:
    """Apply ``event`` to ``state`` in place; return False when it was already applied.
    ``rules`` say which vital signs R2 may still read once they fall off the newest."""
    if isinstance(event, VitalSigns):
        return apply_reading(state, Reading.of(event), rules)
    if event.event_id in state.seen_event_ids:
        return False
    _remember(state.seen_event_ids, event.event_id, SEEN_EVENT_IDS_KEPT)
    if state.watermark is None or event.event_time > state.watermark:
        state.watermark = event.event_time
    if isinstance(event, AlertAck):
        state.acks.append(event)
        del state.acks[:-ACKS_KEPT]
    elif isinstance(event, SymptomReport):
        state.recent_symptoms.append(event)
        state.recent_symptoms.sort(key=lambda s: event_time_sort_key(s.event_time, s.event_id))
        del state.recent_symptoms[:-SYMPTOM_REPORTS_KEPT]
    elif isinstance(event, InfusionStarted):
        _start_infusion(state, event)
    elif not isinstance(event, PumpAlarm):  # an alarm does not change rate or status
        fact = _pump_fact(event)
        owner = state.infusion_by_id(fact.infusion_id)
        if owner is not None:
            owner.add_facts([fact])
        else:
            # Its start has not arrived: without the context (weight, product) it cannot be
            # judged yet, but it must not be lost.
            state.unmatched_pump_facts.append(fact)
            del state.unmatched_pump_facts[:-UNMATCHED_FACTS_KEPT]
    return True


def apply_reading(
    state: PatientState,
    reading: Reading,
    rules: RulesConfig,
    deferred: list[datetime] | None = None,
) -> bool:
    """Apply one vital-signs set (a ``VitalSigns`` event as the state keeps it: telemetry is
    read straight into ``Reading``s, ``streams/clinical/telemetry.py``); False when it was
    applied already.

    With ``deferred`` (a batch's), a set newer than every one kept and than every infusion's
    start (nearly every reading: it changes no baseline) is added without dropping the oldest:
    the watermark after it goes on ``deferred``, and :func:`settle_readings`, called before
    anything reads the sets, drops what each would have dropped, as it would have (a batch's
    normal sets at once: ~2 us less a reading than one by one, docs/benchmarks.md). Any
    other set settles them first."""
    if deferred is not None:
        if _after_every_set_and_start(state, reading):
            if state.watermark is None or reading.event_time > state.watermark:
                state.watermark = reading.event_time
            state.add_reading(reading, drop=False)
            deferred.append(state.watermark)
            return True
        settle_readings(state, rules, deferred)
    if _reading_seen_before(state, reading):
        return False
    if state.watermark is None or reading.event_time > state.watermark:
        state.watermark = reading.event_time
    if len(state.readings) < VITALS_KEPT:
        state.add_reading(reading)  # (none falls off)
    else:
        fallen = state.add_reading(reading, *_r2_may_read(state, rules))
        if fallen or len(state.earlier_abnormal_readings) > PRUNED_AT_ONCE:
            _keep_for_r2(state, fallen, rules, state.watermark)
    for infusion in state.infusions():
        _update_baseline(infusion, reading)
    return True


def _after_every_set_and_start(state: PatientState, reading: Reading) -> bool:
    """Whether ``reading`` is newer than every set kept (so not one of them, and the oldest
    falls off for it) and than every infusion's start (so it is no infusion's baseline)."""
    when = reading.event_time
    newest = state.readings.newest_time()
    if newest is not None and micros(when) <= newest:
        return False
    current = state.infusion
    if current is not None and when <= current.started_at:
        return False
    return all(when > infusion.started_at for infusion in state.earlier_infusions)


def settle_readings(state: PatientState, rules: RulesConfig, deferred: list[datetime]) -> None:
    """Drop the sets the readings ``apply_reading`` deferred would have dropped one by one, and
    keep of them what R2 may read, exactly as then: step by step, each judged at the watermark
    after its reading (``deferred``, emptied here). While none of the earlier abnormal sets
    waits to be pruned, sets within R2's normal ranges (nearly all) are dropped at once."""
    if not deferred:
        return
    watermarks = deferred[:]
    deferred.clear()
    readings = state.readings
    excess = len(readings) - VITALS_KEPT
    if excess <= 0:
        return  # (none fell off: no step reached ``VITALS_KEPT``)
    if len(state.earlier_abnormal_readings) <= PRUNED_AT_ONCE and readings.within(
        _r2_normal(state, rules), excess
    ):
        readings.discard_oldest(excess)
        return
    # The last ``excess`` readings each dropped the oldest set (the others filled the sets up).
    for watermark in watermarks[-excess:]:
        fallen = readings.drop_oldest(1, *_r2_may_read(state, rules))
        if fallen or len(state.earlier_abnormal_readings) > PRUNED_AT_ONCE:
            _keep_for_r2(state, fallen, rules, watermark)


def _start_infusion(state: PatientState, event: InfusionStarted) -> None:
    start = PumpFact(
        infusion_id=event.infusion_id, event_id=event.event_id, event_time=event.event_time,
        status=PumpStatus.RUNNING, rate_ml_h=event.rate_ml_h,
    )  # fmt: skip
    known = state.infusion_by_id(event.infusion_id)
    if known is not None:
        known.add_facts([start])
        return
    waiting = [f for f in state.unmatched_pump_facts if f.infusion_id == event.infusion_id]
    state.unmatched_pump_facts = [
        f for f in state.unmatched_pump_facts if f.infusion_id != event.infusion_id
    ]
    infusion = InfusionState(infusion_id=event.infusion_id, context=event.context, facts=[])
    infusion.add_facts([start, *waiting])
    for reading in state.all_readings():
        _update_baseline(infusion, reading)
    # The current infusion is the one that started last in event time: a start read late (an
    # earlier infusion's) joins the earlier infusions instead of taking its place.
    current = state.infusion
    if current is None:
        state.infusion = infusion
    elif fact_order(infusion.facts[0]) > fact_order(current.facts[0]):
        state.earlier_infusions.append(current)
        state.infusion = infusion
    else:
        state.earlier_infusions.append(infusion)
    state.earlier_infusions.sort(key=lambda i: fact_order(i.facts[0]))
    if len(state.earlier_infusions) > EARLIER_INFUSIONS_KEPT:
        del state.earlier_infusions[:-EARLIER_INFUSIONS_KEPT]
        kept = {i.infusion_id for i in state.infusions()}
        state.ended_episodes = [e for e in state.ended_episodes if e.infusion_id in kept]
    if event.infusion_id not in state.infusions_seen:
        _remember(state.infusions_seen, event.infusion_id, INFUSIONS_REMEMBERED)


def _reach(rules: RulesConfig) -> timedelta:
    """How far behind the patient's newest event time a back-pain report within the grace
    could still read a set (R2): its window behind the grace."""
    return rules.r2.vitals_window + rules.timing.grace


def _r2_may_read(state: PatientState, rules: RulesConfig) -> tuple[Judge, NormalTenths]:
    """Of the sets falling off the newest ``VITALS_KEPT``, those :func:`_keep_for_r2` keeps
    until it prunes them: abnormal (against R2's limits, or a kept infusion's baseline), however
    old (one past the horizon may be the set R2 reads for a kept report: a set falls off that
    late after a gap in the readings). Judged on the columns, so a normal set (nearly every
    one) is dropped without being made a ``Reading``; one with values in the ranges R2 finds
    nothing in (:func:`_r2_normal`) without being judged at all."""
    r2 = rules.r2

    def judge(
        _time_us: int, hr: float | None, sbp: float | None, temp: float | None, spo2: float | None
    ) -> bool:
        return any(
            values_findings(hr, sbp, temp, spo2, baseline, r2)
            for baseline in _baselines(state, rules)
        )

    return judge, _r2_normal(state, rules)


def _r2_normal(state: PatientState, rules: RulesConfig) -> NormalTenths:
    """``normal_tenths`` against the state's baselines (:func:`_baselines`), kept with the state
    while its one infusion's baseline and first fact stay (~0.3 us a reading, against ~1 us to
    find the baselines and look them up)."""
    private = state.__pydantic_private__
    assert private is not None
    r2, current = rules.r2, state.infusion
    baseline = start = None
    if current is not None:
        baseline, start = current.baseline, current.facts[0]
    cached: _NormalFor | None = private["_r2_normal"]
    if (
        cached is not None
        and cached[0] is r2
        and cached[1] is baseline
        and cached[2] is start
        and not state.earlier_infusions
    ):
        return cached[3]
    normal = normal_tenths(
        r2,
        tuple(
            None if b is None else (b.heart_rate_bpm, b.systolic_mmhg)
            for b in _baselines(state, rules)
        ),
    )
    private["_r2_normal"] = (r2, baseline, start, normal)
    return normal


def _keep_for_r2(
    state: PatientState, fallen: list[Reading], rules: RulesConfig, watermark: datetime
) -> None:
    """Keep, of the sets that fell off the newest ``VITALS_KEPT``, what R2 may still read; drop
    the rest. R2 reads only abnormal sets (against its limits, or a kept infusion's baseline)
    within ``r2.vitals_window_min`` of a back-pain report. So an abnormal set is kept while a
    report within the grace could still read it (``vitals_window_min + grace_min`` behind the
    patient's newest event time, ``watermark`` when they fell), and after that only when it is
    the set R2 reads for a kept report: without it, an R2 alert would be withdrawn as no
    longer supported once newer readings pushed its set out. The sets kept are bounded: those
    of the last ``vitals_window_min + grace_min``, and one per kept report and infusion.
    ``fallen`` are those :func:`_r2_may_read` accepted of the sets that fell off."""
    earlier = state.earlier_abnormal_readings
    for reading in fallen:
        insort(earlier, reading)
    if len(earlier) <= PRUNED_AT_ONCE:
        return  # (the usual case at 1 Hz: normal sets, none kept)
    window = rules.r2.vitals_window
    horizon = watermark - _reach(rules)
    past = bisect_left(earlier, horizon, key=_event_time)
    if past <= PRUNED_AT_ONCE:
        return
    reports = [
        r for r in state.recent_symptoms if r.symptom is SymptomKind.BACK_PAIN and r.pain_score
    ]
    baselines = _baselines(state, rules)
    if past <= len(reports) * len(baselines) + PRUNED_AT_ONCE:
        # Those past the horizon may be the sets R2 reads (one per report and baseline); the
        # others wait to be pruned ``PRUNED_AT_ONCE`` at a time (at 1 Hz, not on every reading).
        return
    chosen: set[int] = set()
    for report in reports:
        near = [v for v in earlier if abs(v.event_time - report.event_time) <= window]
        for baseline in baselines:
            worst = worst_near(near, baseline, rules.r2, report.event_time)
            if worst is not None:
                chosen.add(id(worst[1]))
    state.earlier_abnormal_readings = [
        v for v in earlier if v.event_time >= horizon or id(v) in chosen
    ]


def _baselines(state: PatientState, rules: RulesConfig) -> list[Reading | None]:
    """The baselines R2 judges sets against: each kept infusion's (no baseline: its limits)."""
    current = state.infusion
    if current is None:
        return [None]
    if not state.earlier_infusions:  # the usual case: one infusion
        return [usable_baseline(current.baseline, current.started_at, rules.r2)]
    found = [
        usable_baseline(infusion.baseline, infusion.started_at, rules.r2)
        for infusion in state.infusions()
    ]
    return list(dict.fromkeys(found))


def _update_baseline(infusion: InfusionState, reading: Reading) -> None:
    if reading.event_time > infusion.started_at:
        return
    current = infusion.baseline
    if current is None or reading.event_time >= current.event_time:
        infusion.baseline = reading


_STATUS_AFTER: dict[type, PumpStatus] = {
    RateChanged: PumpStatus.RUNNING,
    InfusionResumed: PumpStatus.RUNNING,
    InfusionPaused: PumpStatus.PAUSED,
    InfusionStopped: PumpStatus.STOPPED,
    InfusionCompleted: PumpStatus.COMPLETED,
}


def _pump_fact(
    event: RateChanged | InfusionPaused | InfusionResumed | InfusionStopped | InfusionCompleted,
) -> PumpFact:
    rate = event.rate_ml_h if isinstance(event, RateChanged | InfusionResumed) else None
    return PumpFact(
        infusion_id=event.infusion_id, event_id=event.event_id, event_time=event.event_time,
        status=_STATUS_AFTER[type(event)], rate_ml_h=rate,
    )  # fmt: skip
