"""``pumpstream gateway`` as a process: its one-line errors (no pseudonym key, a port in use), the
addresses it prints, its probes and metrics, the symptom intake API beside the MLLP listener, a
clean stop on SIGTERM; ``replay --hl7`` towards a gateway that is not there."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hl7.mllp import open_hl7_connection

from streams.cli.gateway import serve_gateway
from streams.cli.gateway_bench import GatewayProcess
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.gateway.intake import INTAKE_PATH, SymptomIntake
from streams.settings import Settings
from tests.integration.test_cli_errors import error_line, listener, run
from tests.support.events import Patient
from tests.support.hl7_messages import PSEUDONYM_KEY, vitals_message
from tests.support.metrics_scrape import samples, scrape, value

pytestmark = pytest.mark.integration
__all__ = ["listener"]  # a fixture of test_cli_errors: a port something listens on

KEY = PSEUDONYM_KEY.get_secret_value()
INTAKE_TOKEN = "intake-token-for-the-gateway-cli-test"


def test_without_a_pseudonym_key_the_gateway_names_the_setting(broker: EmbeddedBroker) -> None:
    line = error_line(run("gateway", PUMPSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap))
    assert "PUMPSTREAM_PSEUDONYM_KEY is not set" in line
    short = error_line(run("gateway", PUMPSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap,
                           PUMPSTREAM_PSEUDONYM_KEY="short"))  # fmt: skip
    assert "shorter than 16 characters" in short
    assert "short" not in short.replace("shorter", ""), "the key's value is never printed"


def test_a_taken_mllp_port_is_named_with_its_setting(broker: EmbeddedBroker, listener: int) -> None:
    line = error_line(
        run(
            "gateway",
            PUMPSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap,
            PUMPSTREAM_PSEUDONYM_KEY=KEY,
            PUMPSTREAM_GATEWAY_MLLP_PORT=str(listener),
            PUMPSTREAM_METRICS_PORT="0",
        )
    )
    assert f"port {listener} on 127.0.0.1 is already in use" in line
    assert "PUMPSTREAM_GATEWAY_MLLP_PORT" in line


def test_the_gateway_prints_its_addresses_answers_and_stops_on_sigterm(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    intake_port = free_port()
    env = {
        "PUMPSTREAM_PSEUDONYM_KEY": KEY,
        "PUMPSTREAM_INTAKE_TOKEN": INTAKE_TOKEN,
        "PUMPSTREAM_GATEWAY_HTTP_PORT": str(intake_port),
    }
    gateway = GatewayProcess(broker.bootstrap, tmp_path, env=env).start()
    try:
        gateway.wait_ready()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{gateway.metrics_port}/readyz", timeout=5
        ) as response:
            assert response.status == 200

        async def send() -> str:
            reader, writer = await open_hl7_connection("127.0.0.1", gateway.mllp_port)
            writer.writeblock(vitals_message("MRN0301"))
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), 10)
            writer.close()
            return str(ack.segment("MSA")(1))

        assert asyncio.run(send()) == "AA"
        report = Patient("pt-intake").pain(10, 6).model_dump_json().encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{intake_port}{INTAKE_PATH}",
            data=report,
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback URL
            assert response.status == 202
        exported = scrape(gateway.metrics_port)
        assert value(exported, "pumpstream_gateway_intake_requests_total", status="accepted") == 1
        labelled = [v for (n, ls), _ in samples(exported).items() for _, v in ls if "gateway" in n]
        assert labelled
        assert not [v for v in labelled if "MRN" in v or v.startswith("ps-")]
    finally:
        code = gateway.stop()
    assert code == 0
    log = (tmp_path / "gateway.log").read_text()
    assert f"MLLP (HL7 v2: PCD-01, PCD-10, pain scores) on 127.0.0.1:{gateway.mllp_port}" in log
    assert f"http://127.0.0.1:{gateway.metrics_port}/metrics, /healthz, /readyz" in log
    assert f"symptom intake on http://127.0.0.1:{intake_port}{INTAKE_PATH}" in log
    assert log.rstrip().endswith("gateway stopped")
    assert "MRN0301" not in log


async def test_the_gateway_is_ready_only_once_the_intake_accepts_connections(
    broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI once saw /readyz answer 200 while the intake's port still refused: the intake started
    after the MLLP listener had marked the gateway ready. A slow intake start (the one stand-in
    here) shows the order."""
    real_start = SymptomIntake.start

    async def slow_start(self: SymptomIntake) -> None:
        await asyncio.sleep(1.0)
        await real_start(self)

    monkeypatch.setattr(SymptomIntake, "start", slow_start)
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        pseudonym_key=KEY,
        intake_token=INTAKE_TOKEN,
        metrics_port=free_port(),
        gateway_mllp_port=free_port(),
        gateway_http_port=free_port(),
    )
    gateway = asyncio.create_task(serve_gateway(settings, settings.kafka_connection(None)))

    def ready() -> bool:
        url = f"http://127.0.0.1:{settings.metrics_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    try:
        for _ in range(300):
            if gateway.done() or await asyncio.to_thread(ready):
                break
            await asyncio.sleep(0.05)
        assert not gateway.done(), gateway
        assert await asyncio.to_thread(ready), "the gateway never became ready"
        with socket.create_connection(("127.0.0.1", settings.gateway_http_port), timeout=2):
            pass  # refused here before the fix
    finally:
        if not gateway.done():  # its loop handler is installed only while it runs
            os.kill(os.getpid(), signal.SIGTERM)  # the gateway's own loop handler stops it
        await asyncio.wait_for(gateway, 30)


def test_replay_hl7_names_a_gateway_that_is_not_there(tmp_path: Path) -> None:
    from simulators.simulated_day import simulate_day
    from tests.support.simulator_scenarios import scenario_with

    simulate_day(scenario_with(chairs=1, duration_h=3.0), 1, tmp_path / "day")
    port = free_port()
    line = error_line(
        run("replay", str(tmp_path / "day"), "--hl7", "--gateway", f"127.0.0.1:{port}")
    )
    assert f"cannot reach the gateway at 127.0.0.1:{port}" in line
    assert "pumpstream gateway" in line
    assert "needs --hl7" in error_line(run("replay", str(tmp_path / "day"), "--gateway", "x:1"))
