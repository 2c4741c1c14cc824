"""The ``pumpstream`` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streams.cli.chaos import _register_chaos
from streams.cli.errors import debug_log_level, faust_start_errors, report, with_fix
from streams.cli.fhir import _register_fhir
from streams.cli.fuzz import _register_fuzz
from streams.cli.gateway import _register_gateway
from streams.cli.kafka_access import reachable_kafka
from streams.cli.simulator import _register_simulator
from streams.exceptions import InputFileError, PumpstreamError, RulesFileError
from streams.settings import Settings, load_settings

if TYPE_CHECKING:
    from streams.alerting.roster import Roster
    from streams.cli.bench_figures import Sample
    from streams.clinical.rules_file import RulesConfig

cli = typer.Typer(
    help="pumpstream: correlate IVIG infusion rate changes with back pain and alert nurses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
schemas_cli = typer.Typer(help="Event and alert schemas.", no_args_is_help=True)
topics_cli = typer.Typer(help="Kafka topics of the registry.", no_args_is_help=True)
cli.add_typer(schemas_cli, name="schemas")
cli.add_typer(topics_cli, name="topics")
rules_cli = typer.Typer(help="The clinical rules file.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")
reactions_cli = typer.Typer(help="The reaction ledger (topic reactions).", no_args_is_help=True)
cli.add_typer(reactions_cli, name="reactions")
bench_cli = typer.Typer(help="Benchmarks (results: docs/benchmarks.md).", no_args_is_help=True)
cli.add_typer(bench_cli, name="bench")
dashboards_cli = typer.Typer(help="Grafana dashboards as code (grafana/).", no_args_is_help=True)
cli.add_typer(dashboards_cli, name="dashboards")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RULES_FILE_FIX = (
    "point PUMPSTREAM_RULES_FILE at a valid rules TOML file (`pumpstream rules check FILE` "
    "checks one), or unset it for the shipped rules"
)
ROSTER_FIX = (
    "point PUMPSTREAM_ALERTING_CONFIG at a valid on-call roster (`pumpstream alerting check "
    "FILE` checks one), or unset it to run without alerting"
)


@dataclass
class _GlobalOptions:
    debug: bool = False


_options = _GlobalOptions()


@cli.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback of an error (so does PUMPSTREAM_LOG_LEVEL=debug).",
        ),
    ] = False,
) -> None:
    _options.debug = debug


def _settings() -> Settings:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


@cli.command()
def broker(
    port: Annotated[
        int,
        typer.Option(
            help="Loopback port; 0 picks a free one. A given port can be used again at once "
            "after a stop (a relay holds it; docs/reliability.md).",
            min=0,
            max=65535,
        ),
    ] = 0,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory storage) until Ctrl-C or SIGTERM."""
    from streams.cli.local.child_process import StopSignals
    from streams.cli.local.embedded_broker import EmbeddedBroker

    settings = _settings()
    stop = StopSignals()
    log_path = settings.data_dir / "broker.log"
    with EmbeddedBroker(
        port=port,
        binary=settings.broker_bin,
        log_path=log_path,
        ready_timeout_s=settings.broker_ready_timeout_s,
        relay=port != 0,  # Tansu does not set SO_REUSEADDR: a fixed port is held by a relay
    ) as embedded:
        console.print(f"PUMPSTREAM_KAFKA_BOOTSTRAP={embedded.bootstrap}")
        err_console.print(
            f"embedded broker (memory storage) logging to {log_path}; Ctrl-C stops it"
        )
        sys.stdout.flush()
        stop.wait(until=lambda: not embedded.is_running())
        if not stop.received:
            raise PumpstreamError("the embedded broker exited unexpectedly")
    console.print("broker stopped")


@cli.command()
def worker(
    ready_file: Annotated[
        Path | None, typer.Option(help="Write this file once the worker holds its partitions.")
    ] = None,
) -> None:
    """Run a pipeline worker (ingest, clinical state, rules) against PUMPSTREAM_KAFKA_BOOTSTRAP."""
    from streams.worker import run_worker

    settings = _settings()
    rules, roster = _worker_files(settings)
    kafka = reachable_kafka(settings)
    with faust_start_errors():
        run_worker(settings, kafka, rules, roster, ready_file=ready_file)


def _worker_files(settings: Settings) -> tuple[RulesConfig, Roster | None]:
    """The rules file and the on-call roster (none configured: no alerting stage), read before
    Kafka is probed, so a bad file is reported first and with the variable that names it."""
    from streams.alerting.roster import RosterError, load_roster
    from streams.clinical.rules_file import rules_for

    try:
        rules = rules_for(settings.rules_file, settings.lookback_window_s)
    except RulesFileError as exc:
        raise RulesFileError(with_fix(str(exc), RULES_FILE_FIX)) from None
    if settings.alerting_config is None:
        return rules, None
    try:
        return rules, load_roster(settings.alerting_config)
    except RosterError as exc:
        raise RosterError(with_fix(str(exc), ROSTER_FIX)) from None


@cli.command()
def demo(
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall-clock second.", min=1.0)
    ] = 120.0,
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus", help="Also run a local Prometheus (if installed) scraping the worker."
        ),
    ] = False,
) -> None:
    """Embedded broker + worker + scripted IVIG infusions; shows alerts as they fire."""
    from streams.cli.demo import run_demo

    settings = _settings()
    try:
        code = asyncio.run(run_demo(settings, speed=speed, console=console, prometheus=prometheus))
    except KeyboardInterrupt:
        console.print("\ninterrupted: worker and broker stopped")
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@topics_cli.command("create")
def topics_create() -> None:
    """Create every registry topic that does not exist yet on PUMPSTREAM_KAFKA_BOOTSTRAP."""
    from streams.kafka.admin import ensure_topics

    settings = _settings()
    created = asyncio.run(
        ensure_topics(
            reachable_kafka(settings),
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    console.print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@topics_cli.command("list")
def topics_list() -> None:
    """Print the topic registry: name, key and what the topic carries."""
    from schemas.topics import ALL_TOPICS

    for spec in ALL_TOPICS:
        console.print(f"{spec.name:22} key={spec.key:12} {spec.description}")


@schemas_cli.command("export")
def schemas_export(directory: Path) -> None:
    """Write a JSON Schema file for the value of every topic into DIRECTORY."""
    from schemas.json_schema_export import export_json_schemas

    fix = "give a directory (it is created when missing)"
    if directory.exists() and not directory.is_dir():
        raise InputFileError(f"{directory} is a file, not a directory: {fix}")
    try:
        paths = export_json_schemas(directory)
    except OSError as exc:
        raise InputFileError(
            f"cannot write the schemas into {directory}: {exc.strerror or exc}; {fix}"
        ) from None
    for path in paths:
        console.print(str(path))


@rules_cli.command("check")
def rules_check(
    path: Annotated[
        Path | None, typer.Argument(help="A rules TOML file; default: PUMPSTREAM_RULES_FILE.")
    ] = None,
) -> None:
    """Validate a rules file and print its version and thresholds (exit 2 on a bad file)."""
    from streams.clinical.rules_file import DEFAULT_RULES_FILE, load_rules

    from_setting = None if path is not None else _settings().rules_file
    source = path or from_setting or DEFAULT_RULES_FILE
    try:
        rules = load_rules(source)
    except RulesFileError as exc:
        if from_setting is None:
            raise
        raise RulesFileError(with_fix(str(exc), RULES_FILE_FIX)) from None
    console.print(f"{source}: valid, version {rules.version}")
    for section, values in rules.model_dump(exclude={"version"}).items():
        line = ", ".join(f"{k}={v}" for k, v in values.items())
        console.print(f"  [{section}] {line}", markup=False)


@reactions_cli.command("show")
def reactions_show(patient_ref: str) -> None:
    """Print a patient's documented infusion reactions (what R7 reads)."""
    from streams.clinical.reaction_ledger import read_history

    settings = _settings()
    history = asyncio.run(read_history(reachable_kafka(settings), patient_ref))
    if history is None or not history.reactions:
        console.print(f"no documented reactions for {patient_ref}")
        return
    console.print(f"{len(history.reactions)} documented reaction(s) for {patient_ref}:")
    for r in history.reactions:
        console.print(
            f"- {r.onset_time:%Y-%m-%d %H:%M} {r.rule} {r.product.value} "
            f"{r.concentration_mg_ml:g} mg/mL: {r.rate_at_onset_ml_h:g} mL/h = "
            f"{r.dose_rate_at_onset_mg_kg_min:g} mg/kg/min"
            + (
                f", {r.minutes_since_rate_step:g} min after a rate step"
                if r.minutes_since_rate_step is not None
                else ""
            )
            + (f", peak pain {r.peak_pain_score}/10" if r.peak_pain_score is not None else "")
        )
        actions = ", ".join(a.value for a in r.actions_taken) or "none recorded"
        response = f"; nurse: {r.nurse_response.value}" if r.nurse_response else ""
        console.print(f"    actions: {actions}; outcome: {r.outcome}{response}")


def _print_samples(samples: list[Sample]) -> None:
    for sample in samples:
        console.print(
            f"{sample.name:58} median {sample.median:10.2f} {sample.unit:9} "
            f"p90 {sample.p90:10.2f} {sample.unit}"
        )


@bench_cli.command("rules")
def bench_rules(
    patients: Annotated[
        int, typer.Option(min=1, help="Scripted patients in the event list.")
    ] = 300,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of the whole list.")] = 9,
) -> None:
    """Per-event cost of the clinical step in process, with and without the table round trip."""
    from streams.cli.bench import bench_rules as run

    _print_samples(run(patients, repeats))


@bench_cli.command("pipeline")
def bench_pipeline(
    patients: Annotated[int, typer.Option(min=1, help="Scripted patients in the burst.")] = 300,
    fetch_wait_ms: Annotated[
        list[int] | None,
        typer.Option(
            help="Consumer fetch waits to compare (repeat); default 1500 and the setting's."
        ),
    ] = None,
) -> None:
    """Throughput and event->alert latency through the embedded broker and one worker, side by
    side for each consumer fetch wait."""
    from streams.cli.bench import run_bench_pipeline

    settings = _settings()
    waits = tuple(fetch_wait_ms or (1500, settings.consumer_fetch_max_wait_ms))
    _print_samples(run_bench_pipeline(settings, patients, lambda line: console.print(line), waits))


@bench_cli.command("telemetry")
def bench_telemetry(
    patients: Annotated[int, typer.Option(min=1, help="Patients in the telemetry.")] = 2000,
    observations: Annotated[
        int, typer.Option(min=1, help="Vital-sign observations (1 Hz per patient).")
    ] = 200_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Readings per envelope.")] = 50,
    clinical_events: Annotated[
        int, typer.Option(min=1, help="Unbatched pump events (and readings for the hop test).")
    ] = 20_000,
    infusions: Annotated[int, typer.Option(min=1, help="Active infusions for the RSS.")] = 10_000,
    readings_per_infusion: Annotated[
        int,
        typer.Option(
            min=1,
            help="1 Hz readings per infusion for the RSS (past the 300 sets a patient keeps).",
        ),
    ] = 330,
    reports: Annotated[int, typer.Option(min=1, help="Back-pain reports under load.")] = 30,
    load_per_s: Annotated[
        float, typer.Option(min=1, help="Telemetry observations/s during the reports.")
    ] = 10_000.0,
    loop: Annotated[
        list[str] | None,
        typer.Option(help="Worker event loops to compare (repeat; uvloop, asyncio)."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes, one loop (correctness, not speed).")
    ] = False,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Where to write the JSON; default DATA_DIR/bench-telemetry.json."
        ),
    ] = None,
) -> None:
    """A hospital's telemetry through one worker, side by side with the aiokafka ceiling and a
    naive Faust agent; prints a table and writes JSON (docs/benchmarks.md)."""
    from streams.cli.telemetry_bench import run
    from streams.cli.telemetry_bench_report import TelemetryBenchConfig

    settings = _settings()
    if quick:
        config = TelemetryBenchConfig.quick(settings.topic_partitions, settings.app_id)
    else:
        config = TelemetryBenchConfig(
            patients=patients, observations=observations, batch_size=batch_size,
            clinical_events=clinical_events, infusions=infusions,
            readings_per_infusion=readings_per_infusion, reports=reports, load_per_s=load_per_s,
            loops=tuple(loop or ("uvloop", "asyncio")), partitions=settings.topic_partitions,
            app_id=settings.app_id,
        )  # fmt: skip
    if any(kind not in ("uvloop", "asyncio") for kind in config.loops):
        raise InputFileError(f"--loop: {', '.join(config.loops)}: each must be uvloop or asyncio")
    path = json_path or settings.data_dir / "bench-telemetry.json"
    report = run(config, path, lambda line: console.print(line, markup=False))
    console.print(report.table(), markup=False)
    console.print(f"JSON: {path}")


@dashboards_cli.command("generate")
def dashboards_generate(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the committed JSON is stale.")
    ] = False,
) -> None:
    """Write grafana/dashboards/*.json from the dashboards' code (needs the dashboards extra)."""
    try:
        from grafana.generate import main as generate
    except ImportError as exc:
        raise PumpstreamError(
            "dashboards need grafana-foundation-sdk: install pumpstream's 'dashboards' extra "
            f"({exc})"
        ) from None
    raise typer.Exit(generate(["--check"] if check else []))


def _register_alerting(cli: typer.Typer) -> None:
    """``pumpstream alerting ...``: check a roster file, measure paging latency."""
    alerting_cli = typer.Typer(help="On-call roster and paging (docs/alerting.md).")
    cli.add_typer(alerting_cli, name="alerting", no_args_is_help=True)

    @alerting_cli.command("check")
    def check(roster: Path) -> None:
        """Validate an on-call roster file; print its wards, chains and channels."""
        from streams.alerting.roster import load_roster

        loaded = load_roster(roster)
        for name, ward in loaded.wards.items():
            chain = " -> ".join(f"{r.role} ({r.contact})" for r in ward.chain)
            console.print(f"ward {name}: {chain}; channels: {', '.join(ward.channels) or '-'}")
        for name, channel in loaded.channels.items():
            console.print(f"channel {name}: {channel.type}")
        console.print(f"{roster}: valid")

    @alerting_cli.command("bench")
    def bench(
        alerts: Annotated[int, typer.Option(min=1, help="High-priority alerts, 0.1 s apart.")] = 50,
    ) -> None:
        """Alert -> page latency (webhook, PCD-04) and escalation lateness on loopback."""
        from streams.cli.alerting_bench import run_bench_paging

        settings = _settings()
        _print_samples(run_bench_paging(settings, alerts, lambda line: console.print(line)))


_register_alerting(cli)
_register_chaos(cli)
_register_fuzz(cli)
_register_gateway(cli)
_register_fhir(cli)
_register_simulator(cli)


def main() -> None:
    """Run the command line; an error ends it with one line on stderr (streams/cli/errors.py)."""
    try:
        cli()
    except Exception as exc:
        sys.exit(report(exc, err_console, debug=_options.debug or debug_log_level()))


if __name__ == "__main__":
    main()
