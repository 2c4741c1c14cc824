"""The Faust app class pumpstream runs: Faust's own, with the consumer's fetch wait configurable,
table recovery to a changelog's true end, no record lost on a partition never committed, hooks
awaited at each commit before its offsets are committed, no fixed wait before its tables start,
and a drain loop that makes no task for a record whose callback does not wait
(``streams/kafka/fast_drain.py``).

Faust hard-codes ``fetch_max_wait_ms=1500`` for a worker's consumer. A broker may hold a fetch
that long even when data is waiting (Tansu does: a plain aiokafka consumer measured 1233 ms median
produce -> consume at 1500 ms, 36 ms at 100 ms; docs/benchmarks.md), and an event crosses two
consumer hops before it becomes an alert, so the default alone spends the whole p99 <= 1 s target
(DOMAIN.md §4). ``PUMPSTREAM_CONSUMER_FETCH_MAX_WAIT_MS`` sets it (default 40 ms); a lower wait
costs more idle fetch requests, and below ~40 ms on two cores the extra fetches lengthened the
report -> alert tail under load (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.exceptions import ProducerSendError
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams.kafka.connection import KafkaConnection
from streams.kafka.fast_drain import drain_messages
from streams.kafka.offsets import end_offsets


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; there is no public setter
        # after construction, and Faust constructs it.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer

    async def _highwaters(self, partitions: Iterable[Any]) -> Mapping[Any, int]:
        """Where each changelog partition ends, for table recovery: the true end.

        Faust replays a table's changelog up to the end ListOffsets reports, and Tansu reports
        one past the *first* record of a partition's last batch (streams/kafka/offsets.py): a
        worker taking partitions over would start from a state short of that batch's other
        writes and never see them, since the events behind them are committed. Measured with
        the chaos harness: a 30 s broker outage (both workers rejoin) lost episodes this way."""
        kafka: KafkaConnection | None = getattr(self.app, "recovery_connection", None)
        if kafka is None or self.consumer.in_transaction:
            return await super()._highwaters(list(partitions))
        asked = {TopicPartition(tp.topic, tp.partition): tp for tp in partitions}
        ends = await end_offsets(kafka, list(asked))
        return {asked[tp]: end for tp, end in ends.items()}

    async def seek_to_committed(self) -> Mapping[Any, int]:
        return await self.call_thread(self._seek_to_committed_or_reset)  # type: ignore[no-any-return]

    async def _seek_to_committed_or_reset(self) -> Mapping[Any, int]:
        return await seek_to_committed_or_reset(
            self._ensure_consumer(),
            self.app.topics.acking_topics,
            self.app.conf.consumer_auto_offset_reset,
        )


async def seek_to_committed_or_reset(
    consumer: Any, stream_topics: Collection[str], auto_offset_reset: str
) -> Mapping[Any, int]:
    """Seek every assigned partition to its committed offset, as ``AIOKafkaConsumer.
    seek_to_committed`` does, and also the stream partitions it leaves where they are.

    Faust drops the records a worker fetched while its flow was stopped (a rebalance, table
    recovery) and relies on this seek to read them again. aiokafka only seeks a partition whose
    committed offset is above 0: on a partition never committed, or committed at 0, the dropped
    records were simply gone. Measured: a worker taking over a page another worker had not
    finished fetched the notification during its table recovery, dropped it, went on from the
    offset after it and never paged (tests/chaos/test_stop_while_paging.py, 3 runs in 8 with two
    at once). Changelog partitions (not ``stream_topics``) are left to Faust's recovery."""
    committed: Mapping[Any, int | None] = await consumer.seek_to_committed()
    # Still assigned: a rebalance may have taken partitions away while the offsets were read.
    assigned = consumer.assignment()
    for tp, offset in committed.items():
        if tp.topic in stream_topics and offset == 0 and tp in assigned:
            consumer.seek(tp, 0)
    never = [
        tp
        for tp, offset in committed.items()
        if tp.topic in stream_topics and offset is None and tp in assigned
    ]
    if never and auto_offset_reset == "earliest":
        await consumer.seek_to_beginning(*never)
    elif never and auto_offset_reset == "latest":
        await consumer.seek_to_end(*never)
    return committed  # type: ignore[return-value] # Faust reads None as "not committed"


class _Consumer(faust_aiokafka.Consumer):
    #: Faust's drain loop without two tasks and an ``asyncio.wait`` per record.
    _drain_messages = drain_messages

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_tps(self, tps: Iterable[Any], start_new_transaction: bool) -> bool:
        """Faust's ``Consumer._commit_tps`` with the app's ``before_offsets_commit`` hooks
        awaited once the offsets to commit are taken (in the same step as the sensors'
        ``on_commit_initiated``, as before) and before anything is sent or committed; they run
        on every commit, with offsets to commit or not."""
        commit_offsets = self._filter_committable_offsets(tps)
        for hook in getattr(self.app, "before_offsets_commit", ()):
            await hook()
        if commit_offsets:
            try:
                # send all messages attached to the new offset
                await self._handle_attached(commit_offsets)
            except ProducerSendError as exc:
                await self.crash(exc)
            else:
                return bool(
                    await self._commit_offsets(
                        commit_offsets, start_new_transaction=start_new_transaction
                    )
                )
        return False


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _TableManager(TableManager):
    async def on_start(self) -> None:
        """Faust's, without the one-second sleep it starts with (there for tables added after
        the app starts; pumpstream declares its one table before): a second off the start of
        every worker, fresh or recovering (docs/benchmarks.md)."""
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class _FlowControl(FlowControlEvent):
    """Faust's flow control of the stream queues, whose ``resume`` clears the queues only when
    the flow was suspended.

    Faust suspends the flow when a rebalance begins, and ``resume`` clears every stream queue:
    what was buffered before is read again from the committed offsets. But table recovery
    resumes the flow to read the changelogs, and resumes it again once it has resumed the
    stream partitions and sought them to their committed offsets (``Recovery._resume_streams``,
    ``on_recovery_completed``); a record fetched between that seek and the second ``resume``
    was cleared from its queue, and never read again (the drain loop had already passed its
    offset). Measured: a worker taking over from one killed read 1 of 20 notifications again,
    then nothing (tests/chaos/test_pages_after_sigkill.py, 2 CI runs in 6, 1 run in 1 with a
    busy core). A second ``resume`` while the flow is active now keeps what the queues hold:
    it was fetched since the first, and only from partitions already sought."""

    def resume(self) -> None:
        if not self.is_active():
            super().resume()


class PumpstreamApp(faust.App):
    """A ``faust.App`` whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch,
    recovers tables to their changelogs' true ends, rewinds partitions never committed, awaits
    ``before_offsets_commit`` at every commit, starts its tables without a fixed wait, and
    hands fetched records to the conductor without a task each (``fast_drain``)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, TableManager=_TableManager, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms
        #: When set (:meth:`recover_to_true_ends`), table recovery reads changelogs to their
        #: true end rather than the end the broker reports.
        self.recovery_connection: KafkaConnection | None = None
        #: Awaited at every commit once its offsets are taken, before they are committed (the
        #: patients' checkpoints: streams/clinical/state_store.py). An error stops the commit.
        self.before_offsets_commit: list[Callable[[], Awaitable[Any]]] = []

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return _FlowControl(loop=self.loop)

    def recover_to_true_ends(self, kafka: KafkaConnection) -> None:
        self.recovery_connection = kafka

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def raw_topic(app: faust.App, *names: str) -> Any:
    """A topic carrying bytes that Faust must not decode (a decoding error would crash the agent
    and its supervisor would restart it on the same message forever): pumpstream parses them."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
