"""CLI commands of the simulator: simulate, replay, evaluate, load and ``bench simulate``.

Registered on the main CLI by :func:`_register_simulator` (one call in ``streams/cli/main.py``).
Heavy imports happen inside the commands, so ``pumpstream --help`` stays fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streams.cli.errors import with_fix
from streams.cli.kafka_access import reachable_kafka
from streams.exceptions import InputFileError, PumpstreamError
from streams.settings import load_settings

if TYPE_CHECKING:
    from simulators.ground_truth import GroundTruth
    from simulators.sim_event import SimEvent
    from streams.kafka.connection import KafkaConnection

console = Console(highlight=False, soft_wrap=True)

SCENARIO_FIX = (
    "--scenario takes a shipped scenario name or the path of a scenario TOML file "
    "(fields: docs/simulator.md)"
)
RECORDING_FIX = "give a directory written by `pumpstream simulate --out DIR`"
TRUTH_FIX = "give the truth.json that `pumpstream simulate --out DIR` wrote"


def _kafka(explicit: str | None) -> KafkaConnection:
    """``--bootstrap`` or PUMPSTREAM_KAFKA_BOOTSTRAP (with the security settings), reachable."""
    return reachable_kafka(load_settings(), explicit)


async def _ensure_topics(kafka: KafkaConnection) -> None:
    from streams.kafka.admin import ensure_topics

    settings = load_settings()
    await ensure_topics(
        kafka,
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )


def _load_scenario_with_faults(scenario: str, faults: list[str]) -> object:
    from pydantic import ValidationError

    from schemas.validation_errors import problem_lines
    from simulators.scenario import ScenarioError, load_scenario

    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:
        named_a_file = Path(scenario).suffix == ".toml" or Path(scenario).exists()
        # An unknown shipped name already lists the shipped ones.
        raise InputFileError(
            with_fix(str(exc), SCENARIO_FIX) if named_a_file else str(exc)
        ) from None
    try:
        if not faults:
            return loaded
        updates: dict[str, object] = {}
        for item in faults:
            name, sep, value = item.partition("=")
            if not sep:
                raise ScenarioError(f"--fault {item!r}: expected NAME=VALUE, e.g. malformed=0.01")
            updates[name.strip().replace("-", "_")] = value.strip()
        merged = {**loaded.faults.model_dump(), **updates}
        return loaded.model_copy(update={"faults": type(loaded.faults).model_validate(merged)})
    except ScenarioError as exc:
        raise PumpstreamError(str(exc)) from None
    except ValidationError as exc:
        raise PumpstreamError(f"--fault: {'; '.join(problem_lines(exc))}") from None


ScenarioOpt = Annotated[
    str, typer.Option(help="A shipped scenario name or a path to a scenario TOML file.")
]
SeedOpt = Annotated[int, typer.Option(help="Random seed: the same seed gives the same day.")]
BootstrapOpt = Annotated[
    str | None,
    typer.Option(help="Kafka bootstrap host:port (default: PUMPSTREAM_KAFKA_BOOTSTRAP)."),
]


def simulate(
    scenario: ScenarioOpt = "infusion-day",
    seed: SeedOpt = 7,
    out: Annotated[
        Path | None, typer.Option(help="Write the feed, HL7 files and truth labels here.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="Fault switch NAME=VALUE, repeatable (e.g. malformed=0.02, bursts=2)."),
    ] = None,
    hl7: Annotated[bool, typer.Option(help="Also write the HL7 v2 files.")] = True,
    live: Annotated[
        bool, typer.Option(help="Publish live to Kafka with the simulated nurse in the loop.")
    ] = False,
    bootstrap: BootstrapOpt = None,
    speed: Annotated[
        float, typer.Option(help="Live: simulated seconds per wall second.", min=0.1)
    ] = 60.0,
    nurse: Annotated[bool, typer.Option(help="Live: the nurse answers alerts.")] = True,
) -> None:
    """Simulate a day at the infusion centre: to files (--out) or live to Kafka (--live)."""
    from simulators.scenario import Scenario

    loaded = _load_scenario_with_faults(scenario, fault or [])
    assert isinstance(loaded, Scenario)
    if live:
        _simulate_live(loaded, seed, _kafka(bootstrap), speed, nurse)
        return
    if out is None:
        raise PumpstreamError("give --out DIR (files) or --live (publish to Kafka)")
    from simulators.simulated_day import simulate_day
    from streams.cli.progress import simulate_progress

    if out.exists() and not out.is_dir():
        raise InputFileError(f"--out {out} is a file: give a directory (created when missing)")
    slow_part = " (the HL7 files take most of the time)" if hl7 else ""
    try:
        with simulate_progress(f"simulating {loaded.name} seed {seed}{slow_part}") as advance:
            result = simulate_day(loaded, seed, out, hl7=hl7, on_progress=advance)
    except OSError as exc:
        raise InputFileError(
            f"--out {out}: cannot write {exc.filename or 'a file'}: {exc.strerror or exc}"
        ) from None
    reactions = sum(1 for lb in result.truth.labels if lb.kind.value == "rate_reaction")
    console.print(
        f"{loaded.name} seed {seed}: {result.truth.infusions} infusions, {reactions} reaction "
        f"episode(s), messages {result.messages}"
    )
    injected = {k: v for k, v in result.faults.counts.items() if v}
    if injected:
        console.print(f"faults injected: {injected}")
    console.print(f"wrote {len(result.paths)} files to {out}")


def _simulate_live(
    scenario: object, seed: int, kafka: KafkaConnection, speed: float, nurse: bool
) -> None:
    from schemas.alerts import Alert
    from simulators.closed_loop import run_live
    from simulators.scenario import Scenario

    assert isinstance(scenario, Scenario)

    def sent(event: SimEvent) -> None:
        if event.note and not event.note.startswith("rate step"):
            console.print(f"[dim]t+{event.offset_s / 60:5.1f} min {event.key.decode():10} "
                          f"{event.note}[/]")  # fmt: skip

    def alerted(alert: Alert) -> None:
        console.print(f"[yellow]ALERT[/] {alert.rule} {alert.priority.value} "
                      f"{alert.patient_ref}: {alert.title}")  # fmt: skip

    async def go() -> None:
        await _ensure_topics(kafka)
        run = await run_live(kafka, scenario, seed, speed=speed, with_nurse=nurse,
                             on_sent=sent, on_alert=alerted)  # fmt: skip
        console.print(f"sent {len(run.sent)} messages, saw {len(run.alerts)} alert(s)")

    asyncio.run(go())


def replay(
    directory: Annotated[Path, typer.Argument(help="A directory written by `simulate --out`.")],
    bootstrap: BootstrapOpt = None,
    speed: Annotated[
        float,
        typer.Option(
            help="1 = original pace, N = N times faster, 0 = as fast as possible.", min=0.0
        ),
    ] = 0.0,
    hl7: Annotated[
        bool,
        typer.Option(
            "--hl7",
            help="Send the HL7 files (DIR/hl7) to the gateway over MLLP instead of the JSON "
            "files to Kafka.",
        ),
    ] = False,
    gateway: Annotated[
        str | None,
        typer.Option(
            help="With --hl7: the gateway's MLLP HOST:PORT "
            "(default: 127.0.0.1:PUMPSTREAM_GATEWAY_MLLP_PORT)."
        ),
    ] = None,
    telemetry_window_s: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Pack vital signs into telemetry batches (telemetry.raw), one per partition per "
            "this many simulated seconds; 0 sends each reading alone to vitals.raw.",
        ),
    ] = 0.0,
) -> None:
    """Publish a recording's NDJSON files to the raw topics, or (--hl7) send its HL7 files
    through the gateway."""
    from simulators.publisher import publish
    from streams.cli.progress import ReplayProgress

    if hl7:
        if bootstrap is not None:
            raise PumpstreamError(
                "--hl7 sends to the gateway (--gateway), not to Kafka: drop --bootstrap"
            )
        _replay_hl7(directory, gateway, speed)
        return
    if gateway is not None:
        raise PumpstreamError("--gateway needs --hl7 (without it, replay publishes to Kafka)")

    events = _read_recording(directory)  # a bad recording is reported before Kafka is probed
    if telemetry_window_s > 0:
        from simulators.telemetry_batches import batch_telemetry

        partitions = load_settings().topic_partitions
        events = batch_telemetry(events, partitions=partitions, window_s=telemetry_window_s)
    kafka = _kafka(bootstrap)

    async def go() -> int:
        await _ensure_topics(kafka)
        with ReplayProgress(events, speed=speed) as progress:
            return await publish(kafka, events, speed=speed, on_sent=progress.sent)

    sent = asyncio.run(go())
    console.print(f"replayed {sent} messages from {directory} to {kafka.bootstrap}")


def _gateway_address(gateway: str | None) -> tuple[str, int]:
    if gateway is None:
        return "127.0.0.1", load_settings().gateway_mllp_port
    host, sep, port = gateway.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PumpstreamError(f"--gateway {gateway!r} is not HOST:PORT (e.g. 127.0.0.1:2575)")
    return host, int(port)


def _replay_hl7(directory: Path, gateway: str | None, speed: float) -> None:
    from streams.cli.hl7_replay import (
        Hl7ReplayResult,
        hl7_kind,
        read_hl7_feed,
        send_hl7,
    )
    from streams.cli.progress import ReplayProgress

    if not directory.is_dir():
        raise InputFileError(f"{directory}: no such directory; {RECORDING_FIX}")
    host, port = _gateway_address(gateway)
    events = read_hl7_feed(directory)

    async def go() -> Hl7ReplayResult:
        with ReplayProgress(events, speed=speed, kind_of=hl7_kind) as progress:
            return await send_hl7(events, host, port, speed=speed, on_sent=progress.sent)

    result = asyncio.run(go())
    console.print(
        f"replayed {result.sent} HL7 messages from {directory / 'hl7'} to the gateway at "
        f"{host}:{port}: {result.sent - len(result.rejected)} accepted (AA), "
        f"{len(result.rejected)} refused (AR), {result.resent} resent"
    )
    if result.rejected:
        for control_id, text in result.rejected[:5]:
            console.print(f"  AR {control_id}: {text}")
        raise PumpstreamError(
            f"the gateway refused {len(result.rejected)} message(s): they are on the dead-letter "
            "topics (reason in their headers) and in the gateway's log"
        )


def _read_recording(directory: Path) -> list[SimEvent]:
    from simulators.recording import read_recording

    try:
        return read_recording(directory)
    except FileNotFoundError as exc:  # no such directory, or no topic file in it
        raise InputFileError(f"{exc}; {RECORDING_FIX}") from None
    except ValueError as exc:  # the message names the file, the line and the format
        raise InputFileError(str(exc)) from None
    except OSError as exc:
        raise InputFileError(
            f"{exc.filename or directory}: cannot read: {exc.strerror or exc}"
        ) from None


def evaluate(
    truth: Annotated[Path, typer.Option(help="truth.json written by `simulate --out`.")],
    bootstrap: BootstrapOpt = None,
    pseudonymised: Annotated[
        bool,
        typer.Option(
            "--pseudonymised",
            help="The feed went through the HL7 gateway (`replay --hl7`): map the truth's "
            "patients (the simulator's MRNs, PID-3) through the gateway's keyed hash "
            "(PUMPSTREAM_PSEUDONYM_KEY) first.",
        ),
    ] = False,
) -> None:
    """Precision, recall and onset-to-alert time per rule: the `alerts` topic vs ground truth;
    pages per true episode (`alerts.notifications`), missed episodes and technical alerts."""
    from simulators.alert_feed import read_all_alerts, read_all_notifications
    from simulators.evaluation import (
        format_page_figures,
        format_scores,
        page_figures,
        score_alerts,
    )

    labels = _read_truth(truth)  # a bad file is reported before Kafka is probed
    if pseudonymised:
        labels = _pseudonymised(labels)
    kafka = _kafka(bootstrap)
    alerts = asyncio.run(read_all_alerts(kafka))
    notifications = asyncio.run(read_all_notifications(kafka))
    console.print(
        f"{labels.scenario} seed {labels.seed}: {labels.infusions} infusions, "
        f"{len(labels.labels)} truth labels, {len(alerts)} alert messages"
    )
    console.print(format_scores(score_alerts(alerts, labels)))
    console.print(format_page_figures(page_figures(alerts, notifications, labels)))


def _pseudonymised(labels: GroundTruth) -> GroundTruth:
    """The truth with each patient as the gateway names it: the simulator writes the patient's
    reference as the MRN (PID-3, authority PUMPSTREAM), which the gateway hashes with the key."""
    from streams.cli.hl7_replay import SIMULATED_MRN_AUTHORITY
    from streams.gateway.pseudonym import Pseudonymiser

    pseudonymiser = Pseudonymiser(load_settings().pseudonym_key)
    return labels.with_patient_refs(
        lambda mrn: pseudonymiser.patient_ref(mrn, SIMULATED_MRN_AUTHORITY)
    )


def _read_truth(path: Path) -> GroundTruth:
    import json

    from pydantic import ValidationError

    from schemas.validation_errors import problem_lines
    from simulators.ground_truth import GroundTruth

    if not path.is_file():
        raise InputFileError(f"--truth {path}: no such file; {TRUTH_FIX}")
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputFileError(f"--truth {path}: cannot read: {exc.strerror}; {TRUTH_FIX}") from None
    except ValueError as exc:
        raise InputFileError(f"--truth {path}: not JSON ({exc}); {TRUTH_FIX}") from None
    try:
        return GroundTruth.model_validate(document)
    except ValidationError as exc:
        problems = problem_lines(exc, top_level="the document")
        listed = "; ".join(problems[:3]) + (
            f"; {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise InputFileError(f"--truth {path}: not a truth file ({listed}); {TRUTH_FIX}") from None


def load(
    pumps: Annotated[int, typer.Option(min=0, help="Simulated pumps.")] = 100,
    monitors: Annotated[int, typer.Option(min=0, help="Simulated vitals monitors.")] = 100,
    interval_s: Annotated[float, typer.Option(min=0.01, help="Seconds between reports.")] = 1.0,
    duration_s: Annotated[float, typer.Option(min=0.1, help="How long to run.")] = 30.0,
    bootstrap: BootstrapOpt = None,
    batch: Annotated[
        bool,
        typer.Option(
            help="Send the monitors' readings as telemetry batches (telemetry.raw, one per "
            "partition per send slot) instead of one message each.",
        ),
    ] = False,
) -> None:
    """Load mode: N pumps and M monitors reporting every interval, for benchmarks."""
    from simulators.load_generator import planned_messages, run_load
    from streams.cli.progress import LoadProgress

    kafka = _kafka(bootstrap)
    planned = planned_messages(
        pumps=pumps, monitors=monitors, interval_s=interval_s, duration_s=duration_s
    )

    async def go() -> None:
        await _ensure_topics(kafka)
        with LoadProgress(planned) as progress:
            result = await run_load(
                kafka, pumps=pumps, monitors=monitors, interval_s=interval_s,
                duration_s=duration_s, on_sent=progress.sent, batch=batch,
            )  # fmt: skip
        console.print(result.summary())

    asyncio.run(go())


def bench_simulate(
    chairs: Annotated[int, typer.Option(min=1, help="Chairs of the large run.")] = 240,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per measurement.")] = 3,
    load_devices: Annotated[
        int, typer.Option(min=0, help="Pumps and monitors (each) of the load run; 0 skips it.")
    ] = 500,
) -> None:
    """Simulator speed (infusion day with/without HL7, a large centre) and load-mode send rate."""
    from streams.cli.simulator_bench import run_bench_simulate

    for line in run_bench_simulate(chairs, repeats, load_devices):
        console.print(line)


def _register_simulator(cli: typer.Typer) -> None:
    """Add the simulator's commands to ``cli`` (and ``bench simulate`` to its bench group)."""
    cli.command()(simulate)
    cli.command()(replay)
    cli.command()(evaluate)
    cli.command()(load)
    for group in cli.registered_groups:
        if group.name == "bench" and group.typer_instance is not None:
            group.typer_instance.command("simulate")(bench_simulate)
