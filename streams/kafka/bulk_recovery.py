"""A table's changelog read in bulk on assignment, outside Faust's per-record recovery path.

Faust recovers a table by passing every changelog record through its consumer's drain loop, the
conductor, a queue and its recovery loop, which checks how much is left after each record: ~150-
180 us a record here (py-spy: docs/benchmarks.md, "Recovery in steady state"). The patients'
changelog holds up to ~100 live records a patient at 1 Hz, so a worker taking over 2,000 patients
in steady state was ready after ~40 s. Read here, a record costs ~10-14 us (docs/benchmarks.md,
"Run 10").

:class:`BulkRecoveryStore` is Faust's memory store with one change: when partitions of its
table's changelog are newly assigned, it reads them from the start to their true end
(``streams/kafka/offsets.py``) with one plain consumer, decodes each record with the changelog
topic's own schema and applies the batches through the table's ``apply_changelog_batch``, as
Faust's recovery does. It then reports the last offset it read as the partition's persisted
offset: Faust's recovery starts there and reads only what was written since (usually nothing;
the last record again, which changes nothing). A read that fails (the broker unreachable, a
stall of 30 s) leaves what it did not apply to Faust's recovery. A partition that stays assigned
across a rebalance, or a table without a recovery connection
(``PumpstreamApp.recover_to_true_ends``), is recovered by Faust as before. Used by the
patients' state table (``streams/clinical/agent.py``) as ``store=BULK_RECOVERY_STORE``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faust.serializers.codecs import get_codec
from faust.stores import STORES
from faust.stores.memory import Store

from streams.kafka.connection import KafkaConnection
from streams.kafka.offsets import end_offsets

logger = logging.getLogger(__name__)

#: The store URL for a table recovered in bulk (with a host: Faust ignores a store URL that is
#: only a scheme, since yarl counts it false, and falls back to the app's store).
BULK_RECOVERY_STORE = "pumpstream-bulk-memory://table"
STORES.aliases["pumpstream-bulk-memory"] = f"{__name__}:BulkRecoveryStore"

#: The reading consumer's fetch limits: large, since a changelog partition is read whole.
FETCH_BYTES_PER_PARTITION = 16 * 1024 * 1024
#: Give up (and leave the partition to Faust's recovery) when a read makes no progress this long.
STALL_S = 30.0


class _ChangelogEvent(NamedTuple):
    """What the memory store's ``apply_changelog_batch`` reads of a Faust event."""

    key: Any
    value: Any
    message: ConsumerRecord[bytes, bytes]


class BulkRecoveryStore(Store[str, Any]):
    """Faust's memory store, reading newly assigned changelog partitions itself."""

    def __post_init__(self) -> None:
        super().__post_init__()
        #: The last offset read in bulk, per changelog partition assigned in this rebalance.
        self._read_to: dict[Any, int] = {}

    def persisted_offset(self, tp: Any) -> int | None:
        return self._read_to.get(tp)

    async def on_rebalance(
        self,
        assigned: set[Any],
        revoked: set[Any],
        newly_assigned: set[Any],
        generation_id: int = 0,
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        self._read_to.clear()
        kafka: KafkaConnection | None = getattr(self.app, "recovery_connection", None)
        changelog = self.table.changelog_topic.get_topic_name()
        mine = sorted(
            (tp for tp in newly_assigned if tp.topic == changelog), key=lambda tp: tp.partition
        )
        if kafka is None or not mine:
            return
        read_to: dict[Any, int] = {}
        try:
            await self._read(kafka, mine, read_to)
        except (KafkaError, OSError, TimeoutError) as exc:
            # What was applied is recorded in read_to: Faust's recovery goes on from there.
            logger.warning(
                "bulk read of the changelog failed (%r); Faust's recovery reads the rest", exc
            )
        self._read_to.update(read_to)

    async def _read(self, kafka: KafkaConnection, tps: list[Any], read_to: dict[Any, int]) -> None:
        """Read ``tps`` to their true ends and apply them, recording in ``read_to`` the last
        offset applied of each as it goes."""
        started = time.monotonic()
        asked = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
        ends = {tp: end for tp, end in (await end_offsets(kafka, list(asked))).items() if end > 0}
        if not ends:
            return
        schema = self.table.changelog_topic.schema
        consumer = kafka.consumer(
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
            fetch_max_bytes=FETCH_BYTES_PER_PARTITION * len(ends),
        )
        records = 0
        try:  # stopped even when it cannot start
            await consumer.start()
            consumer.assign(list(ends))
            await consumer.seek_to_beginning(*ends)
            progress = time.monotonic()
            while ends:
                batch = await consumer.getmany(*ends, timeout_ms=200)
                if batch:
                    progress = time.monotonic()
                elif time.monotonic() - progress > STALL_S:
                    logger.warning(
                        "bulk read of %s stalled; Faust's recovery reads the rest", sorted(ends)
                    )
                    break
                for tp, got in batch.items():
                    events: Any = self._events(schema, got)  # the fields of an event Faust reads
                    self.table.apply_changelog_batch(events)
                    records += len(got)
                    read_to[asked[tp]] = got[-1].offset
                    if got[-1].offset + 1 >= ends[tp]:
                        del ends[tp]
        finally:
            await consumer.stop()
        logger.info(
            "read %d changelog records of %d partition(s) in %.1f s",
            records,
            len(read_to),
            time.monotonic() - started,
        )

    def _events(
        self, schema: Any, records: Iterable[ConsumerRecord[bytes, bytes]]
    ) -> list[_ChangelogEvent]:
        """The records as Faust's recovery hands them to the table: key and value decoded as the
        changelog topic's schema decodes them (its codecs, then the registry's conversion to the
        key and value types; a tombstone's value stays None), with the codecs looked up once
        rather than per record (half of a record's cost)."""
        serializers: Any = self.app.serializers
        prepare = serializers._prepare_payload
        key_type, value_type = schema.key_type, schema.value_type
        key_codec = get_codec(schema.key_serializer) if schema.key_serializer else None
        value_codec = get_codec(schema.value_serializer) if schema.value_serializer else None

        def decode(codec: Any, typ: Any, raw: bytes | None) -> Any:
            if raw is None:
                return None
            return prepare(typ, codec.loads(raw) if codec is not None else raw)

        return [
            _ChangelogEvent(
                decode(key_codec, key_type, record.key),
                decode(value_codec, value_type, record.value),
                record,
            )
            for record in records
        ]
