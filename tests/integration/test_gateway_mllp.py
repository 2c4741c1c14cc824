"""The HL7 gateway over real TCP on the embedded broker, reached with MLLP clients that are not
its own (``hl7.mllp``'s asyncio client, raw sockets with hand-made frames): ACK codes, the events
on the raw topics, dead letters, broken framing, truncation, oversized messages, 200 connections
at once, the connection limit and the idle timeout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import hl7
import pytest
from hl7.mllp import open_hl7_connection
from prometheus_client import CollectorRegistry, generate_latest

from schemas.dead_letters import HEADER_REASON
from schemas.events import PUMP_EVENT_ADAPTER, SymptomReport, VitalSigns
from schemas.topics import (
    ALL_TOPICS,
    PUMP_EVENTS_RAW,
    SYMPTOMS_RAW,
    VITALS_RAW,
)
from streams.gateway.mllp_listener import ListenerLimits
from streams.gateway.service import Hl7Gateway
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import read_topic
from streams.metrics.families import GatewayMetrics
from tests.support.events import Patient
from tests.support.hl7_messages import (
    PSEUDONYM_KEY,
    START_BLOCK,
    ack_code,
    ack_segment,
    exchange,
    frame,
    infusion_samples,
    patient_ref_of,
    read_ack,
    same_event,
    vitals_message,
)
from tests.support.kafka_client import read_until
from tests.support.metrics_scrape import samples, value

pytestmark = pytest.mark.integration

StartGateway = Callable[..., Awaitable[Hl7Gateway]]


@pytest.fixture
async def start_gateway(topics: KafkaConnection) -> AsyncIterator[StartGateway]:
    """In-process gateways on the test broker, on free ports; stopped after the test."""
    started: list[Hl7Gateway] = []

    async def start(
        max_message_bytes: int = 8192, idle_timeout_s: float = 10.0, max_connections: int = 250
    ) -> Hl7Gateway:
        gateway = Hl7Gateway(
            topics,
            PSEUDONYM_KEY,
            GatewayMetrics(CollectorRegistry()),
            ListenerLimits(max_message_bytes, idle_timeout_s, max_connections),
            host="127.0.0.1",
            port=0,
            ack_timeout_s=5.0,
        )
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


def _metric(gateway: Hl7Gateway, name: str, **labels: str) -> float:
    return value(generate_latest(gateway.metrics.registry).decode(), name, **labels)


async def test_ihe_messages_are_acked_once_their_events_are_on_the_raw_topics(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway()
    samples_ = infusion_samples(Patient("MRN0001"))
    reader, writer = await open_hl7_connection("127.0.0.1", gateway.port, encoding="utf-8")
    try:
        for sample in samples_:
            writer.writeblock(sample.message)
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), 10)
            assert str(ack.segment("MSA")(1)) == "AA", (sample.name, str(ack))
            assert str(ack.segment("MSA")(2)) == str(
                hl7.parse(sample.message.decode()).segment("MSH")(10)
            )
    finally:
        writer.close()
        await writer.wait_closed()

    # AA came after Kafka's acknowledgement: the events are there to be read now.
    pump = {"start", "start-new-rate", "pause", "resume", "complete"}
    expected = {
        topic: [s for s in samples_ if s.event is not None and s.name in names]
        for topic, names in (
            (PUMP_EVENTS_RAW.name, pump),
            (VITALS_RAW.name, {"vitals"}),
            (SYMPTOMS_RAW.name, {"pain"}),
        )
    }
    models = {PUMP_EVENTS_RAW.name: PUMP_EVENT_ADAPTER.validate_json,
              VITALS_RAW.name: VitalSigns.model_validate_json,
              SYMPTOMS_RAW.name: SymptomReport.model_validate_json}  # fmt: skip
    for topic, wanted in expected.items():
        records = await read_topic(topics, topic, timeout_s=10)  # one key: one partition, in order
        assert len(records) == len(wanted), topic
        for record, sample in zip(records, wanted, strict=True):
            event = models[topic](record.value or b"")
            assert record.key == patient_ref_of("MRN0001").encode()
            assert same_event(event, sample.event), (topic, event, sample.event)
    for spec in ALL_TOPICS:  # the MRN is in no key, no value (the test's order numbers aside)
        for record in await read_topic(topics, spec.name, timeout_s=10):
            text = (record.value or b"").replace(b"inf-MRN0001-a", b"")
            assert b"MRN0001" not in text
            assert b"MRN0001" not in (record.key or b"")
    assert _metric(gateway, "pumpstream_gateway_messages_total", ack="AA") == len(samples_)


async def test_a_resent_message_carries_the_same_event_id(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway()
    message = vitals_message("MRN0002", 3)
    assert [ack_code(a) for a in await exchange(gateway.port, message, message)] == ["AA", "AA"]
    records = await read_until(topics, VITALS_RAW.name, lambda rs: len(rs) >= 2)
    ids = {json.loads(r.value or b"")["event_id"] for r in records}
    assert len(records) == 2
    assert len(ids) == 1, "the clinical stage drops the second"


async def test_what_cannot_be_mapped_is_refused_with_err_and_dead_lettered(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway()
    good = vitals_message("MRN0003", 1)
    adt = good.replace(b"ORU^R01^ORU_R01", b"ADT^A08^ADT_A01")
    unknown = good.replace(b"147842^MDC_ECG_HEART_RATE", b"999999^MDC_NOT_A_CODE")
    truncated = good[: good.index(b"\rOBX|3|") + 12]  # framed, but cut inside a segment
    acks = await exchange(gateway.port, adt, unknown, truncated)
    assert [ack_code(a) for a in acks] == ["AR", "AR", "AR"]
    assert ack_segment(acks[0], "ERR")[3].startswith("200^"), "unsupported message type"
    assert ack_segment(acks[1], "ERR")[3].startswith("103^"), "table value not found"
    assert ack_segment(acks[1], "ERR")[2] == "OBX^1^3"
    letters = await read_until(topics, "vitals.raw.dlq", lambda rs: len(rs) >= 2)
    dead = await read_until(topics, "pump.events.raw.dlq", lambda rs: len(rs) >= 1)
    reasons = sorted(dict(r.headers)[HEADER_REASON].decode() for r in [*letters, *dead])
    assert reasons == ["hl7_unknown_code", "hl7_unknown_code", "hl7_unsupported_message"]
    for record in [*letters, *dead]:
        assert b"MRN0003^" not in (record.value or b""), "the MRN is not kept"
        assert record.key == patient_ref_of("MRN0003").encode()
    assert await read_topic(topics, VITALS_RAW.name, timeout_s=5) == []
    assert _metric(gateway, "pumpstream_gateway_unknown_codes_total", code_kind="observation") == 2
    rejected = "pumpstream_gateway_rejected_messages_total"
    assert _metric(gateway, rejected, reason="hl7_unsupported_message") == 1


async def test_broken_framing_on_one_connection_leaves_the_others_alone(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway()

    async def broken() -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"\x00\xffnot mllp at all\r\n")  # bytes before any start block
        writer.write(START_BLOCK + b"MSH|^~\\&|half a message")  # abandoned by a new start
        writer.write(frame(vitals_message("MRN0004", 1)))
        writer.write(b"\x1cstray end" + START_BLOCK + b"MSH|cut off by the close")
        await writer.drain()
        acks = [await asyncio.wait_for(read_ack(reader), 10)]
        writer.close()
        await writer.wait_closed()
        return acks

    async def healthy() -> list[bytes]:
        return await exchange(gateway.port, *(vitals_message("MRN0005", m) for m in range(5)))

    broken_acks, healthy_acks = await asyncio.gather(broken(), healthy())
    assert [ack_code(a) for a in broken_acks] == ["AA"]
    assert [ack_code(a) for a in healthy_acks] == ["AA"] * 5
    framing = "pumpstream_gateway_framing_errors_total"
    await _until(lambda: _metric(gateway, framing, framing_error="truncated") == 1)
    assert _metric(gateway, framing, framing_error="garbage") >= 2
    records = await read_until(topics, VITALS_RAW.name, lambda rs: len(rs) >= 6)
    assert len(records) == 6, "one event per whole message, nothing from the broken bytes"


async def test_an_oversized_message_is_refused_and_the_connection_goes_on(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway(max_message_bytes=2048)
    big = vitals_message("MRN0006", 1).replace(
        b"\rOBX|1|", b"\rNTE|1||" + b"x" * 20_000 + b"\rOBX|1|"
    )
    acks = await exchange(gateway.port, big, vitals_message("MRN0006", 2))
    assert [ack_code(a) for a in acks] == ["AR", "AA"]
    assert "hl7_too_large" in ack_segment(acks[0], "MSA")[3]
    assert ack_segment(acks[0], "MSA")[2] == "MRN0006-vitals-1", "answered with its control id"
    assert (
        _metric(gateway, "pumpstream_gateway_framing_errors_total", framing_error="oversized") == 1
    )
    assert len(await read_until(topics, VITALS_RAW.name, lambda rs: len(rs) >= 1)) == 1


async def test_two_hundred_connections_at_once(
    start_gateway: StartGateway, topics: KafkaConnection
) -> None:
    gateway = await start_gateway()
    began = time.monotonic()
    acks = await asyncio.gather(
        *(
            exchange(gateway.port, vitals_message(f"MRN{n:04d}", 1), timeout_s=30)
            for n in range(200)
        )
    )
    elapsed = time.monotonic() - began
    assert [ack_code(a) for (a,) in acks] == ["AA"] * 200
    records = await read_until(topics, VITALS_RAW.name, lambda rs: len(rs) >= 200)
    assert len({r.key for r in records}) == 200
    assert _metric(gateway, "pumpstream_gateway_connections_total") == 200
    await _until(lambda: _metric(gateway, "pumpstream_gateway_open_connections") == 0)
    assert elapsed < 20, f"200 connections took {elapsed:.1f} s"


async def test_connection_limit_and_idle_timeout(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(max_connections=2, idle_timeout_s=0.5)
    first = await asyncio.open_connection("127.0.0.1", gateway.port)
    second = await asyncio.open_connection("127.0.0.1", gateway.port)
    await _until(lambda: _metric(gateway, "pumpstream_gateway_open_connections") == 2)
    third_reader, third_writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    assert await asyncio.wait_for(third_reader.read(), 5) == b"", "the third is closed at once"
    assert _metric(gateway, "pumpstream_gateway_connections_refused_total") == 1
    for reader, _ in (first, second):  # idle: closed by the gateway after 0.5 s
        assert await asyncio.wait_for(reader.read(), 5) == b""
    assert _metric(gateway, "pumpstream_gateway_idle_connections_closed_total") == 2
    assert [ack_code(a) for a in await exchange(gateway.port, vitals_message("MRN0007"))] == ["AA"]
    for _, writer in (first, second, (third_reader, third_writer)):
        writer.close()


async def test_metrics_take_no_identifier(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    await exchange(gateway.port, vitals_message("MRN0008"), b"MSH|^~\\&|garbage")
    exported = generate_latest(gateway.metrics.registry).decode()
    for (name, labels), _ in samples(exported).items():
        for _, label_value in labels:
            assert "MRN" not in label_value, name
            assert "ps-" not in label_value, name
    assert gateway.health.readiness() == (True, "ready")


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
