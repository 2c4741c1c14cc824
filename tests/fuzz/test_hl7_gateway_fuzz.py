"""The HL7 gateway under any input: MLLP framing (any bytes in any pieces), HL7 reading and
mapping, and the receiver that turns a frame into its ACK. Nothing raises; every frame gets a
clean ``AA`` or ``AR`` whose bytes cannot break the framing; what is accepted, ingest accepts;
what is refused is one dead letter with a reason; the patient's identifiers stay behind."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import event, given, reject
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas.dead_letters import HEADER_REASON
from schemas.raw_validation import Accepted, validate_raw
from schemas.topics import RAW_TOPICS, topic_by_name
from streams.gateway.acks import AckCode
from streams.gateway.health import GatewayHealth
from streams.gateway.hl7_reading import Message, read_header, read_message
from streams.gateway.kafka_records import Record
from streams.gateway.mllp_framing import (
    END_BLOCK,
    START_BLOCK,
    Frame,
    FrameDecoder,
    Garbage,
    Oversized,
    Truncated,
)
from streams.gateway.mllp_listener import ListenerLimits, MllpListener
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.receiver import Answer, Hl7Receiver
from streams.gateway.rejections import RejectReason
from streams.metrics.families import GatewayMetrics
from tests.fuzz.budget import budget
from tests.fuzz.hl7_messages import MRN, PATIENT_NAME, TEMPLATES, hl7_payloads

MAX_MESSAGE_BYTES = 2048
RAW_NAMES = {spec.name for spec in RAW_TOPICS}
DLQ_NAMES = {spec.dlq for spec in RAW_TOPICS}
REASONS = {reason.value.encode() for reason in RejectReason}


# -- MLLP framing ------------------------------------------------------------------------------


def _decode(pieces: list[bytes], max_bytes: int = MAX_MESSAGE_BYTES) -> list[object]:
    decoder = FrameDecoder(max_bytes)
    items: list[object] = []
    for piece in pieces:
        items += decoder.feed(piece)
    items += decoder.close()
    assert not decoder.in_frame
    return items


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _summary(items: list[object]) -> tuple[list[object], int]:
    """What does not depend on how the bytes were cut: frames, oversized frames (their size,
    and their head up to the limit: past it, how much was kept depends on where the limit was
    crossed), truncation, and how many garbage bytes in all."""
    kept = [
        (i.size, i.head[:MAX_MESSAGE_BYTES]) if isinstance(i, Oversized) else i
        for i in items
        if not isinstance(i, Garbage)
    ]
    return kept, sum(i.size for i in items if isinstance(i, Garbage))


def _at_the_limit_split_in_its_end_block(items: list[object]) -> bool:
    """The reported bug (test below): a frame of exactly the limit whose end block arrives in
    two pieces is refused as oversized."""
    return any(isinstance(i, Oversized) and i.size <= MAX_MESSAGE_BYTES for i in items)


mllp_bytes = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([START_BLOCK, END_BLOCK, b"\x1c", b"\r", b"\n", b"MSH|^~\\&|"]),
        st.integers(0, 3 * MAX_MESSAGE_BYTES).map(lambda n: b"x" * n),
    ),
    max_size=30,
).map(b"".join)


@budget(400)
@given(data=mllp_bytes, cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_any_bytes_in_any_pieces_decode_the_same(data: bytes, cuts: list[int]) -> None:
    whole = _decode([data])
    pieces = _decode(_split(data, cuts))
    byte_by_byte = _decode([bytes([b]) for b in data]) if len(data) < 2000 else pieces
    if _at_the_limit_split_in_its_end_block(pieces + byte_by_byte):
        reject()
    for items in (whole, pieces, byte_by_byte):
        for item in items:
            assert isinstance(item, Frame | Garbage | Oversized | Truncated)
            if isinstance(item, Frame):
                assert len(item.payload) <= MAX_MESSAGE_BYTES
                assert START_BLOCK not in item.payload
            if isinstance(item, Oversized):
                assert item.size > MAX_MESSAGE_BYTES
    event(f"{sum(isinstance(i, Frame) for i in whole)} frames")
    assert _summary(pieces) == _summary(whole)
    assert _summary(byte_by_byte) == _summary(whole)


payloads_without_blocks = st.binary(max_size=300).map(
    lambda b: b.replace(START_BLOCK, b"").replace(b"\x1c", b"")
)
between_frames = st.text(alphabet=" \r\n\t", max_size=3).map(str.encode)
garbage = st.binary(max_size=20).map(lambda b: b.replace(START_BLOCK, b""))


@budget(200)
@given(
    messages=st.lists(st.tuples(between_frames, garbage, payloads_without_blocks), max_size=6),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_framed_messages_come_out_whole_among_garbage(
    messages: list[tuple[bytes, bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(
        space + junk + START_BLOCK + payload + END_BLOCK for space, junk, payload in messages
    )
    items = _decode(_split(stream, cuts))
    assert [i.payload for i in items if isinstance(i, Frame)] == [p for _, _, p in messages]
    outside = sum(len(junk) - sum(junk.count(c) for c in b" \r\n\t") for _, junk, _ in messages)
    assert sum(i.size for i in items if isinstance(i, Garbage)) == outside


@budget(60)
@given(size=st.integers(MAX_MESSAGE_BYTES + 1, 5 * MAX_MESSAGE_BYTES), cuts=st.lists(st.integers()))
def test_an_oversized_frame_is_reported_with_its_head_and_size(size: int, cuts: list[int]) -> None:
    payload = (TEMPLATES[0].encode() * (size // len(TEMPLATES[0]) + 1))[:size]
    payload = payload.replace(START_BLOCK, b"").replace(b"\x1c", b"")
    items = _decode(
        _split(START_BLOCK + payload + END_BLOCK + START_BLOCK + b"ok" + END_BLOCK, cuts)
    )
    oversized = [i for i in items if isinstance(i, Oversized)]
    # Past the limit, how much of the head was kept depends on the pieces (and may hold the
    # end block's first byte: the reported bug's cause).
    assert [(o.size, o.head[:MAX_MESSAGE_BYTES]) for o in oversized] == [
        (len(payload), payload[:MAX_MESSAGE_BYTES])
    ]
    assert [i.payload for i in items if isinstance(i, Frame)] == [b"ok"]


def test_a_frame_of_exactly_the_limit_is_a_frame_however_its_end_block_arrives() -> None:
    payload = b"x" * MAX_MESSAGE_BYTES
    items = _decode([START_BLOCK + payload + b"\x1c", b"\r"])
    assert items == [Frame(payload)]


# -- HL7 reading and the receiver --------------------------------------------------------------


@dataclass(repr=False)
class RecordingProducer:
    """Kafka acknowledges everything at once."""

    records: list[Record] = field(default_factory=list)

    async def send(self, records: list[Record], **options: object) -> None:
        self.records += records


@dataclass(repr=False)
class Gateway:
    loop: asyncio.AbstractEventLoop
    receiver: Hl7Receiver
    producer: RecordingProducer
    listener: MllpListener

    def receive(self, payload: bytes) -> tuple[Answer, list[Record]]:
        before = len(self.producer.records)
        answer = self.loop.run_until_complete(self.receiver.receive(payload))
        return answer, self.producer.records[before:]

    def converse(self, pieces: list[bytes], acks: int) -> list[bytes]:
        """Send ``pieces`` on one MLLP connection, then read ``acks`` framed answers."""

        async def talk() -> list[bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.listener.port)
            try:
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                answers = []
                for _ in range(acks):
                    framed = await asyncio.wait_for(reader.readuntil(END_BLOCK), 10)
                    answers.append(framed.removeprefix(START_BLOCK).removesuffix(END_BLOCK))
                return answers
            finally:
                writer.close()
                await writer.wait_closed()

        return self.loop.run_until_complete(talk())


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    producer = RecordingProducer()
    metrics = GatewayMetrics(CollectorRegistry())
    receiver = Hl7Receiver(
        producer,  # type: ignore[arg-type]
        Pseudonymiser(SecretStr("fuzz-pseudonym-key-0123456789")),
        metrics,
        GatewayHealth(),
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    limits = ListenerLimits(MAX_MESSAGE_BYTES, idle_timeout_s=10, max_connections=4)
    listener = MllpListener(receiver, metrics, limits, host="127.0.0.1", port=0)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(listener.bind())
    loop.run_until_complete(listener.serve())
    try:
        yield Gateway(loop, receiver, producer, listener)
    finally:
        loop.run_until_complete(listener.stop(grace_s=1))
        loop.close()


def _check_ack(ack: bytes, code: AckCode) -> None:
    """An ACK that MLLP can carry and a sender can read: no block characters inside, an MSA
    with the code."""
    assert START_BLOCK not in ack
    assert b"\x1c" not in ack
    parsed = read_message(ack)
    assert isinstance(parsed, Message), parsed
    msa = parsed.first("MSA")
    assert msa is not None
    assert msa.value(1) == code.value


def _identifiers_stay_behind(payload: bytes, answer: Answer, records: list[Record]) -> None:
    """The MRN and the name never leave the gateway, when they are where the gateway looks for
    them: in PID segments (a damaged segment name hides them from it)."""
    segments = re.split(rb"\r\n|\r|\n", payload)
    for secret in (MRN.encode(), PATIENT_NAME.encode()):
        if any(secret in s and not s.startswith(b"PID") for s in segments):
            event("an identifier outside a PID segment")
            continue
        assert secret not in answer.ack
        for record in records:
            assert secret not in record.value
            assert secret not in (record.key or b"")
            for _, header in record.headers:
                assert secret not in header


@budget(500)
@given(payload=hl7_payloads)
def test_any_frame_gets_a_clean_ack_and_nothing_escapes(gateway: Gateway, payload: bytes) -> None:
    try:
        assert read_header(payload) is not None
        answer, records = gateway.receive(payload)
    except AssertionError as exc:
        # The reported bug (test below): hl7's parser asserts on repeated delimiters in MSH-1/2.
        if not _raised_by_hl7_parser(exc):
            raise
        event("reported bug: hl7's AssertionError escaped")
        return
    event(answer.code.value)
    assert answer.code in (AckCode.ACCEPT, AckCode.REJECT)
    _check_ack(answer.ack, answer.code)
    if answer.code is AckCode.ACCEPT:
        for record in records:
            assert record.topic in RAW_NAMES
            outcome = validate_raw(topic_by_name(record.topic), record.key, record.value)
            assert isinstance(outcome, Accepted), outcome
    else:
        (letter,) = records
        assert letter.topic in DLQ_NAMES
        reason = dict(letter.headers)[HEADER_REASON]
        event(reason.decode())
        assert reason in REASONS
    _identifiers_stay_behind(payload, answer, records)


def _raised_by_hl7_parser(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.endswith(os.path.join("hl7", "parser.py"))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"MSH|~|a~b^c", id="one-encoding-character"),
        pytest.param(b"MSH|^^~\\&|APP|FAC||||ORU^R01|1|P|2.6", id="component-separator-twice"),
        pytest.param(b"MSH|&&&&|a&b", id="all-the-same"),
    ],
)
def test_repeated_delimiters_get_a_reject(gateway: Gateway, payload: bytes) -> None:
    answer, _ = gateway.receive(payload)
    assert answer.code is AckCode.REJECT


@budget(100)
@given(head=hl7_payloads, excess=st.integers(1, 10**7))
def test_an_oversized_message_gets_a_clean_reject(
    gateway: Gateway, head: bytes, excess: int
) -> None:
    try:
        answer = gateway.receiver.oversized(head[:4096], MAX_MESSAGE_BYTES + excess)
    except AssertionError as exc:
        if not _raised_by_hl7_parser(exc):
            raise
        event("reported bug: hl7's AssertionError escaped")
        return
    assert answer.code is AckCode.REJECT
    _check_ack(answer.ack, AckCode.REJECT)


@pytest.mark.parametrize("birth_date", ["14/02/1956", "19561314", "195602"])
def test_a_malformed_date_of_birth_stays_behind(gateway: Gateway, birth_date: str) -> None:
    payload = TEMPLATES[0].replace("19560214", birth_date).encode()
    answer, records = gateway.receive(payload)
    assert answer.code is AckCode.REJECT
    assert birth_date.encode() not in answer.ack
    for record in records:
        assert birth_date.encode() not in b"".join(h for _, h in record.headers)


def _trips_the_reported_assertion(payload: bytes) -> bool:
    try:
        read_message(payload)
        read_header(payload)
    except AssertionError as exc:
        if _raised_by_hl7_parser(exc):
            return True
        raise
    return False


@budget(40)
@given(
    frames=st.lists(st.tuples(garbage, hl7_payloads), min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 10**6), max_size=6),
)
def test_the_listener_answers_every_frame_on_the_connection(
    gateway: Gateway, frames: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    """Over TCP: garbage, frames and oversized frames in any pieces; one ACK per frame, in
    order, and the connection stays up."""
    frames = [
        (junk, payload.replace(START_BLOCK, b"").replace(END_BLOCK, b"\r"))
        for junk, payload in frames
    ]
    frames = [(j, p) for j, p in frames if not _trips_the_reported_assertion(p)]
    stream = b"".join(junk + START_BLOCK + payload + END_BLOCK for junk, payload in frames)
    expected = [i for i in _decode([stream]) if isinstance(i, Frame | Oversized)]
    answers = gateway.converse(_split(stream, cuts), len(expected))
    assert len(answers) == len(expected)
    for answer in answers:
        parsed = read_message(answer)
        assert isinstance(parsed, Message), parsed
        msa = parsed.first("MSA")
        assert msa is not None
        assert msa.value(1) in (AckCode.ACCEPT.value, AckCode.REJECT.value)
