"""``pumpstream chaos``: a simulated day through two workers while they are killed and the broker
goes away, compared with a clean run of the same day (docs/reliability.md, "Harnesses").

Both runs: the embedded broker behind its relay, two workers with an on-call roster whose webhook
channel is a local receiver counting ``Idempotency-Key`` repeats, and the simulator's day
published at ``--speed`` (a publisher that waits through outages, as a gateway buffering its
feed would). The chaos run adds ``--kills`` SIGKILLs of a random worker at random moments (one in
each of ``--kills`` equal slots of the day; the killed worker is started again at once) and one
``--outage-s`` outage: the relay refuses every connection, then lets them back. The harness is
the supervisor: a worker that stops by itself (a broker fault it does not survive) is started
again and counted. Targets: no episode missing, none extra, none left open that the clean run
ended, no page delivered twice, the same evaluate counts, and the pipeline processing again
within 30 s of the broker's return. Exit code 1 when one is missed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from schemas.alerts import Alert
    from simulators.evaluation import RuleScore
    from simulators.scenario import Scenario
    from simulators.sim_event import SimEvent
    from streams.cli.local.embedded_broker import EmbeddedBroker
    from streams.cli.local.worker_process import SupervisedWorker
    from streams.kafka.connection import KafkaConnection
    from streams.settings import Settings

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

#: The target: the pipeline processing again this soon after the broker returns (issue 14).
BACK_WITHIN_S = 30.0
#: A reactive cohort (tolerance median 4 mg/kg/min instead of 9): about 0.65 labelled
#: situations per chair, so 480 chairs give the day >= 300 true episodes.
TOLERANCE_MEDIAN_MG_KG_MIN = 4.0
#: The day is over once nothing new reached ``alerts``, ``alerts.notifications`` or the pager
#: for this long.
SETTLED_AFTER_S = 10.0
ROSTER = """default_ward = "{ward}"

[escalation_timeouts_s]
high = 3600
medium = 3600
low = 0

[wards.{ward}]
channels = ["pager"]
chain = [
  {{ role = "bedside_nurse", name = "Bay nurse", contact = "dect-4101" }},
  {{ role = "charge_nurse", name = "Charge nurse", contact = "dect-4100" }},
]

[channels.pager]
type = "webhook"
url = "{url}/pages"
"""


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    chairs: int
    speed: float
    kills: int
    outage_s: float
    out: Path
    #: The day is over once nothing new arrived for this long.
    settled_after_s: float = SETTLED_AFTER_S


@dataclass
class RunFigures:
    """What one run produced and what was done to it."""

    name: str
    alerts: list[Alert] = field(default_factory=list)
    pages: int = 0
    duplicate_pages: int = 0
    kills: int = 0
    self_stops: int = 0
    outages: int = 0
    recovered_after_s: float | None = None
    wall_s: float = 0.0
    #: When the publisher started (monotonic): progress lines and the times below count from it.
    started: float = 0.0
    kill_times: list[float] = field(default_factory=list)


def chaos_scenario(chairs: int) -> Scenario:
    """The shipped infusion day with ``chairs`` chairs and the reactive cohort."""
    from simulators.scenario import load_scenario

    day = load_scenario("infusion-day")
    reaction = day.reaction.model_copy(
        update={"tolerance_median_mg_kg_min": TOLERANCE_MEDIAN_MG_KG_MIN}
    )
    return day.model_copy(update={"name": "chaos-day", "chairs": chairs, "reaction": reaction})


def fault_schedule(
    seed: int, day_wall_s: float, kills: int, outage_s: float
) -> tuple[list[float], float | None]:
    """Seconds after the publisher starts: one kill at a random moment of each of ``kills`` equal
    slots of the day, and the outage's start, at random in the day's middle half (None without
    one). No kill falls within 5 s of the outage: one drawn there is drawn again in its slot, or
    anywhere after the outage when its slot is all outage."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    outage_at = rng.uniform(0.25, 0.75 - outage_s / day_wall_s) * day_wall_s if outage_s else None

    def clear(at: float) -> bool:
        return outage_at is None or not outage_at - 5 <= at <= outage_at + outage_s + 5

    slot = day_wall_s / max(kills, 1)
    moments = []
    for n in range(kills):
        draws = (rng.uniform(n * slot, (n + 1) * slot) for _ in range(20))
        at = next((d for d in draws if clear(d)), None)
        if at is None:
            assert outage_at is not None
            at = rng.uniform(outage_at + outage_s + 5, day_wall_s)
        moments.append(at)
    return sorted(moments), outage_at


async def publish_through_outages(
    kafka: KafkaConnection, events: Sequence[SimEvent], *, speed: float
) -> None:
    """Send ``events`` at ``speed``; a send waits (up to 5 min) for a broker that is away."""
    producer = kafka.producer(acks="all", linger_ms=5, request_timeout_ms=300_000)
    await producer.start()
    try:
        started = time.monotonic()
        for event in events:
            delay = started + event.offset_s / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send(event.topic, key=event.key, value=event.value)
        await producer.flush()
    finally:
        await producer.stop()


async def _ends(kafka: KafkaConnection, topics: Sequence[str]) -> int:
    from streams.kafka.reading import TopicReader

    async with TopicReader(kafka, list(topics), start="end") as reader:
        return sum((await reader.true_end()).values())


async def _settle(
    kafka: KafkaConnection, topics: Sequence[str], pages: Callable[[], int], quiet_s: float
) -> None:
    """Return once the topics' ends and the pages received stay the same for ``quiet_s``."""
    last, since = (-1, -1), time.monotonic()
    while time.monotonic() - since < quiet_s:
        await asyncio.sleep(1.0)  # the interval of the comparison, not a wait for an outcome
        now = (await _ends(kafka, topics), pages())
        if now != last:
            last, since = now, time.monotonic()


async def run_day(
    settings: Settings,
    plan: ChaosPlan,
    events: Sequence[SimEvent],
    *,
    chaos: bool,
    say: Callable[[str], None],
) -> RunFigures:
    """One run of the day on a fresh broker: clean, or with the plan's kills and outage."""
    from schemas.topics import ALERT_NOTIFICATIONS, ALERTS
    from simulators.alert_feed import read_all_alerts
    from streams.cli.local.embedded_broker import EmbeddedBroker
    from streams.cli.local.webhook_sink import WebhookSink
    from streams.cli.local.worker_process import SupervisedWorker
    from streams.kafka.admin import ensure_topics

    name = "chaos" if chaos else "clean"
    run_dir = plan.out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    figures = RunFigures(name)
    sink = WebhookSink()
    roster = run_dir / "roster.toml"
    roster.write_text(ROSTER.format(ward=chaos_scenario(1).ward, url=sink.url), encoding="utf-8")
    broker = EmbeddedBroker(log_path=run_dir / "broker.log", relay=True)
    slots: list[SupervisedWorker] = []
    started = time.monotonic()
    try:
        broker.start()
        await asyncio.to_thread(broker.wait_ready)
        kafka = broker.connection
        await ensure_topics(kafka, partitions=settings.topic_partitions)
        env = {
            "PUMPSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "PUMPSTREAM_METRICS_PORT": "0",
            "PUMPSTREAM_ALERTING_CONFIG": str(roster),
            "PUMPSTREAM_NURSE_STATION_PORT": "0",
            "PUMPSTREAM_LOG_LEVEL": "info",  # the post-mortem of a surprise needs it
        }
        slots = [
            SupervisedWorker(
                n, broker.bootstrap, run_dir, {**env, "PUMPSTREAM_DATA_DIR": str(run_dir / n)}
            )
            for n in ("worker-a", "worker-b")
        ]
        await asyncio.gather(*(slot.start() for slot in slots))
        say(f"[{name}] two workers ready; publishing {len(events)} messages at {plan.speed:g}x")
        day_wall_s = max(e.offset_s for e in events) / plan.speed
        kills, outage_at = fault_schedule(plan.seed, day_wall_s, plan.kills, plan.outage_s)
        figures.started = time.monotonic()
        publisher = asyncio.create_task(publish_through_outages(kafka, events, speed=plan.speed))
        faults: list[asyncio.Task[None]] = []
        if chaos:
            rng = random.Random(plan.seed + 1)  # noqa: S311 - which worker dies, reproducibly
            faults = [
                asyncio.create_task(_kill_at(at, rng.choice(slots), figures, n, len(kills), say))
                for n, at in enumerate(kills, 1)
            ]
            if outage_at is not None:
                changelog = f"{settings.app_id}-patient-state-changelog"
                faults.append(
                    asyncio.create_task(
                        _outage_at(outage_at, plan.outage_s, broker, kafka, changelog, figures, say)
                    )
                )
        while not publisher.done() or not all(f.done() for f in faults):
            await asyncio.sleep(0.5)
            for slot in slots:
                if slot.stopped_by_itself():
                    figures.self_stops += 1
                    code = slot.process.stop() if slot.process else None
                    say(
                        f"[{name}] {slot.name} stopped by itself (exit code {code}, log "
                        f"{slot.process.log_path if slot.process else '-'}); starting it again"
                    )
                    await slot.start()
        await publisher
        for fault in faults:
            await fault
        say(f"[{name}] day published; waiting for the pipeline to settle")
        settled_topics = [ALERTS.name, ALERT_NOTIFICATIONS.name]
        await _settle(kafka, settled_topics, lambda: sink.pages, plan.settled_after_s)
        figures.alerts = await read_all_alerts(kafka)
        figures.pages, figures.duplicate_pages = sink.pages, sink.duplicates()
        # For a post-mortem of the comparison: every alert message of the run, in topic order.
        (run_dir / "alerts.ndjson").write_text(
            "".join(a.model_dump_json() + "\n" for a in figures.alerts), encoding="utf-8"
        )
        (run_dir / "pages.tsv").write_text(
            "".join(f"{at - figures.started:.3f}\t{key}\n" for at, key in sink.received()),
            encoding="utf-8",
        )
    finally:
        for slot in slots:
            await asyncio.to_thread(slot.stop)
        broker.stop()
        sink.close()
    figures.wall_s = time.monotonic() - started
    say(f"[{name}] done in {figures.wall_s:.0f} s: {len(figures.alerts)} alert messages, "
        f"{figures.pages} pages")  # fmt: skip
    return figures


async def _kill_at(
    at: float,
    slot: SupervisedWorker,
    figures: RunFigures,
    n: int,
    total: int,
    say: Callable[[str], None],
) -> None:
    await asyncio.sleep(at)
    await slot.idle.wait()  # still starting after an earlier kill: kill it once it is up
    say(f"[chaos] t+{time.monotonic() - figures.started:.0f} s SIGKILL {slot.name} ({n}/{total})")
    figures.kills += 1
    figures.kill_times.append(time.monotonic() - figures.started)
    await slot.kill_and_restart()


async def _outage_at(
    at: float,
    outage_s: float,
    broker: EmbeddedBroker,
    kafka: KafkaConnection,
    changelog: str,
    figures: RunFigures,
    say: Callable[[str], None],
) -> None:
    await asyncio.sleep(at)
    say(
        f"[chaos] t+{time.monotonic() - figures.started:.0f} s broker outage for {outage_s:g} s "
        "(connections refused)"
    )
    figures.outages += 1
    await asyncio.to_thread(broker.pause)
    await asyncio.sleep(outage_s)
    await asyncio.to_thread(broker.resume)
    returned = time.monotonic()
    before = await _ends(kafka, [changelog])
    while time.monotonic() - returned < 120:
        if await _ends(kafka, [changelog]) > before:  # a worker applied an event again
            figures.recovered_after_s = time.monotonic() - returned
            say(f"[chaos] processing again {figures.recovered_after_s:.1f} s after the outage")
            return
        await asyncio.sleep(0.5)


@dataclass(frozen=True)
class Comparison:
    """The chaos run's episodes against the clean run's, by ``alert_id``."""

    episodes: int
    missing: list[str]
    extra: list[str]
    #: Episodes the clean run ended and the chaos run left open (target: none).
    left_open: list[str]
    never_ended_clean: int
    never_ended_chaos: int


def compare_runs(clean: Sequence[Alert], chaos: Sequence[Alert]) -> Comparison:
    from schemas.alerts import AlertPhase

    def phases(alerts: Sequence[Alert]) -> dict[str, set[AlertPhase]]:
        by_id: dict[str, set[AlertPhase]] = {}
        for alert in alerts:
            by_id.setdefault(alert.alert_id, set()).add(alert.phase)
        return by_id

    before, after = phases(clean), phases(chaos)
    open_before = {a for a, p in before.items() if AlertPhase.END not in p}
    open_after = {a for a, p in after.items() if AlertPhase.END not in p}
    return Comparison(
        episodes=len(before),
        missing=sorted(set(before) - set(after)),
        extra=sorted(set(after) - set(before)),
        left_open=sorted((open_after & set(before)) - open_before),
        never_ended_clean=len(open_before),
        never_ended_chaos=len(open_after),
    )


def _figure_rows(
    clean: RunFigures, chaos: RunFigures, c: Comparison
) -> list[tuple[str, str, str, bool]]:
    """(figure, clean, chaos, target met) for the summary."""
    back = chaos.recovered_after_s
    return [
        ("alert episodes", str(c.episodes), str(c.episodes - len(c.missing) + len(c.extra)), True),
        ("missing episodes (target 0)", "-", str(len(c.missing)), not c.missing),
        ("extra episodes (target 0)", "-", str(len(c.extra)), not c.extra),
        ("never-ended episodes", str(c.never_ended_clean), str(c.never_ended_chaos), True),
        ("  of them ended in the clean run (target 0)", "-", str(len(c.left_open)),
         not c.left_open),
        ("pages delivered", str(clean.pages), str(chaos.pages), True),
        ("duplicate pages (target 0)", str(clean.duplicate_pages), str(chaos.duplicate_pages),
         clean.duplicate_pages == 0 and chaos.duplicate_pages == 0),
        ("SIGKILLs (restarted at once)", "0", str(chaos.kills), True),
        ("broker outages", "0", str(chaos.outages), True),
        ("workers that stopped by themselves", str(clean.self_stops), str(chaos.self_stops), True),
        (f"processing again after the outage (target <= {BACK_WITHIN_S:g} s)", "-",
         "-" if back is None else f"{back:.1f} s",
         chaos.outages == 0 or (back is not None and back <= BACK_WITHIN_S)),
        ("wall time", f"{clean.wall_s:.0f} s", f"{chaos.wall_s:.0f} s", True),
    ]  # fmt: skip


def report(clean: RunFigures, chaos: RunFigures, truth_path: Path, out: Console) -> bool:
    """Print the summary and both evaluate tables; True when every target is met."""
    from simulators.evaluation import format_scores, score_alerts
    from simulators.ground_truth import GroundTruth

    truth = GroundTruth.read(truth_path)
    comparison = compare_runs(clean.alerts, chaos.alerts)
    rows = _figure_rows(clean, chaos, comparison)
    clean_scores = score_alerts(clean.alerts, truth)
    chaos_scores = score_alerts(chaos.alerts, truth)
    # Counts, not onset->alert minutes: R5's alert time follows the worker's quiet-stream timer
    # (wall clock), so it moves by a few simulated minutes between any two runs.
    same_scores = [_counts(s) for s in clean_scores] == [_counts(s) for s in chaos_scores]
    rows.append(("evaluate counts the same as clean (alerts, TP, found)", "-",
                 "yes" if same_scores else "no", same_scores))  # fmt: skip
    out.print(f"{truth.scenario} seed {truth.seed}: {truth.infusions} infusions, "
              f"{len(truth.labels)} true episodes (truth labels)")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    out.print(f"{'figure':{width}}  {'clean':>8}  {'chaos':>8}  target")
    for figure, before, after, met in rows:
        out.print(f"{figure:{width}}  {before:>8}  {after:>8}  {'ok' if met else 'MISSED'}")
    for label, ids in (("missing", comparison.missing), ("extra", comparison.extra),
                       ("left open", comparison.left_open)):  # fmt: skip
        if ids:
            out.print(f"{label}: {', '.join(ids[:10])}" + (" ..." if len(ids) > 10 else ""))
    out.print("\nevaluate, clean run:\n" + format_scores(clean_scores))
    out.print("\nevaluate, chaos run:\n" + format_scores(chaos_scores))
    return all(met for *_, met in rows)


def _counts(score: RuleScore) -> tuple[str, int, int, int, int]:
    return score.rule, score.alerts, score.true_positives, score.labels, score.detected


async def run_chaos(settings: Settings, plan: ChaosPlan, say: Callable[[str], None]) -> bool:
    from simulators.recording import read_recording
    from simulators.simulated_day import simulate_day

    day_dir = plan.out / "day"
    result = await asyncio.to_thread(
        simulate_day, chaos_scenario(plan.chairs), plan.seed, day_dir, hl7=False
    )
    events = read_recording(day_dir)
    say(f"simulated chaos-day seed {plan.seed}: {plan.chairs} chairs, {result.truth.infusions} "
        f"infusions, {len(result.truth.labels)} true episodes, {len(events)} messages")  # fmt: skip
    clean = await run_day(settings, plan, events, chaos=False, say=say)
    chaos = await run_day(settings, plan, events, chaos=True, say=say)
    return report(clean, chaos, day_dir / "truth.json", console)


def _register_chaos(cli: typer.Typer) -> None:
    """``pumpstream chaos``: kills and a broker outage against a clean run of the same day."""

    @cli.command()
    def chaos(
        seed: Annotated[int, typer.Option(help="Seed of the day and of the fault schedule.")] = 7,
        chairs: Annotated[
            int, typer.Option(min=1, help="Chairs of the simulated day (480: >= 300 episodes).")
        ] = 480,
        speed: Annotated[
            float, typer.Option(min=1.0, help="Simulated seconds per wall second (the 4 h day).")
        ] = 60.0,
        kills: Annotated[int, typer.Option(min=0, help="SIGKILLs of a worker.")] = 10,
        outage_s: Annotated[
            float, typer.Option(min=0.0, help="Seconds of the broker outage (0: none).")
        ] = 30.0,
        out: Annotated[
            Path | None,
            typer.Option(help="Run directory (day, logs); default PUMPSTREAM_DATA_DIR/chaos."),
        ] = None,
    ) -> None:
        """Two workers, a simulated day, SIGKILLs and a broker outage, compared with a clean run
        (exit 1 when a target is missed; docs/reliability.md)."""
        from streams.exceptions import PumpstreamError
        from streams.settings import load_settings

        settings = load_settings()
        # The publisher and the readers retry through the outage; their aiokafka warnings
        # (refused connections) would drown the progress lines. The workers log to their files.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        day_wall_s = chaos_scenario(chairs).duration_h * 3600 / speed
        if outage_s and outage_s > day_wall_s / 2:
            raise PumpstreamError(
                f"--outage-s {outage_s:g} does not fit in the middle half of a "
                f"{day_wall_s:.0f} s day: lower --speed or --outage-s"
            )
        plan = ChaosPlan(seed, chairs, speed, kills, outage_s, out or settings.data_dir / "chaos")
        ok = asyncio.run(
            run_chaos(settings, plan, lambda line: err_console.print(line, markup=False))
        )
        raise typer.Exit(0 if ok else 1)
