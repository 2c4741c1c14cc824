"""A live infusion centre against a real broker: the simulated devices publish as simulated
time passes (``speed`` x the wall clock), the simulated nurse reads the pipeline's alerts and
answers on ``alerts.acks``, and what the nurse does at the pump comes back as pump events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.alerts import Alert
from simulators.alert_feed import follow_alerts
from simulators.clock import PacedClock
from simulators.infusion_centre import InfusionCentre
from simulators.nurse import Nurse
from simulators.recording import to_sim_events
from simulators.scenario import Scenario
from simulators.sim_event import SimEvent
from streams.kafka.connection import KafkaConnection


@dataclass
class LiveRun:
    centre: InfusionCentre
    sent: list[SimEvent] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


async def run_live(
    kafka: KafkaConnection,
    scenario: Scenario,
    seed: int,
    *,
    speed: float,
    with_nurse: bool = True,
    start: datetime | None = None,
    on_sent: Callable[[SimEvent], None] = lambda e: None,
    on_alert: Callable[[Alert], None] = lambda a: None,
) -> LiveRun:
    """Run the scenario's day live until its end; return what was sent and seen."""
    centre = InfusionCentre(scenario, seed, start=start or datetime.now(UTC).replace(microsecond=0))
    nurse = Nurse(scenario.nurse, seed) if with_nurse else None
    run = LiveRun(centre)
    producer = kafka.producer(acks="all", linger_ms=2)
    await producer.start()
    alerts = follow_alerts(kafka)
    try:
        await anext(alerts)  # assigned and positioned before the first message goes out
        clock = PacedClock(speed)
        while not centre.finished:
            centre.run_until(clock.now_s())
            fresh = to_sim_events(centre.drain())
            for event in fresh:
                await producer.send(event.topic, key=event.key, value=event.value)
                run.sent.append(event)
                on_sent(event)
            if fresh:
                await producer.flush()
            for alert in await anext(alerts):
                run.alerts.append(alert)
                on_alert(alert)
                decision = nurse.decide(alert) if nurse is not None else None
                if decision is not None and nurse is not None:
                    nurse.schedule(centre, decision)
            await asyncio.sleep(0)
        return run
    finally:
        await alerts.aclose()
        await producer.stop()
