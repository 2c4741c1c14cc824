"""pumpstream reaches into Faust and aiokafka internals in ``streams/kafka/transport.py``: the
worker consumer's fetch wait, table recovery to the true end of a changelog, the seek back to
committed offsets, the commit step (hooks awaited before offsets are committed), the table
manager's start (without its fixed second) and the stream queues' flow control; and relies on
Faust's recovery steps for the bulk store (``streams/kafka/bulk_recovery.py``; the drain loop:
``test_fast_drain.py``) and on its producer's aiokafka producer for batched sends
(``streams/kafka/batched_sends.py``). These tests fail when an upgrade moves what the patches
hook, so that the patches are re-tested rather than silently ignored (docs/benchmarks.md,
"Upstream proposals")."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.transport.drivers import aiokafka as faust_aiokafka
from packaging.version import Version

from streams.kafka import transport
from streams.kafka.connection import KafkaConnection

#: The versions the patches were tested with; a newer one must be re-tested first.
TESTED = {"faust-streaming": ("0.11.3", "0.16"), "aiokafka": ("0.14", "0.15")}


def test_the_installed_versions_are_ones_the_patches_were_tested_with() -> None:
    for package, (lowest, below) in TESTED.items():
        installed = Version(version(package))
        assert Version(lowest) <= installed < Version(below), (
            f"{package} {installed}: re-test streams/kafka/transport.py, then widen TESTED"
        )


async def test_aiokafka_reads_the_fetch_wait_attribute_the_patch_sets_when_it_starts() -> None:
    # Built (in a running loop) and never started: nothing connects.
    consumer = KafkaConnection("127.0.0.1:9").consumer(fetch_max_wait_ms=123)
    await consumer.stop()
    assert consumer._fetch_max_wait_ms == 123
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)


def test_faust_builds_its_worker_consumer_where_the_patch_overrides_it() -> None:
    base = faust_aiokafka.AIOKafkaConsumerThread
    assert "_create_worker_consumer" in vars(base)
    patched = transport._ConsumerThread._create_worker_consumer
    assert patched is not base._create_worker_consumer
    assert "self._create_worker_consumer(" in inspect.getsource(base._create_consumer)


def test_faust_recovery_asks_the_highwaters_the_patch_overrides() -> None:
    base = faust_aiokafka.AIOKafkaConsumerThread
    assert "self._highwaters" in inspect.getsource(base.highwaters)
    assert list(inspect.signature(base._highwaters).parameters) == ["self", "partitions"]
    assert (
        transport._Consumer._new_consumer_thread is not faust_aiokafka.Consumer._new_consumer_thread
    )
    assert transport._Transport.Consumer is transport._Consumer


def test_faust_seeks_back_to_committed_offsets_through_the_patched_consumer_thread() -> None:
    # Faust drops records fetched while its flow is stopped and seeks back through here.
    from faust.transport import consumer as faust_consumer

    assert "self.seek_to_committed()" in inspect.getsource(faust_consumer.Consumer.perform_seek)
    assert "self._thread.seek_to_committed()" in inspect.getsource(
        faust_consumer.ThreadDelegateConsumer.seek_to_committed
    )
    base = faust_aiokafka.AIOKafkaConsumerThread
    assert transport._ConsumerThread.seek_to_committed is not base.seek_to_committed
    # What the patch works around: aiokafka seeks only offsets above 0.
    assert "if offset and offset > 0" in inspect.getsource(AIOKafkaConsumer.seek_to_committed)


def test_faust_commits_through_the_commit_step_the_patch_replaces() -> None:
    """``_Consumer._commit_tps`` is Faust's with the app's hooks awaited after the offsets are
    taken: Faust must still call the sensors, take the offsets and commit in that order, and
    its ``_commit_tps`` must still be the one the patch copies."""
    from faust.transport import consumer as faust_consumer

    force = inspect.getsource(faust_consumer.Consumer.force_commit)
    steps = ["on_commit_initiated(self)", "_filter_tps_with_pending_acks(", "self._commit_tps("]
    assert [force.index(step) for step in steps] == sorted(force.index(s) for s in steps)
    stock = inspect.getsource(faust_consumer.Consumer._commit_tps)
    body = [line.strip() for line in stock.splitlines()[1:] if line.strip()]
    assert body == [
        "commit_offsets = self._filter_committable_offsets(tps)",
        "if commit_offsets:",
        "try:",
        "# send all messages attached to the new offset",
        "await self._handle_attached(commit_offsets)",
        "except ProducerSendError as exc:",
        "await self.crash(exc)",
        "else:",
        "return await self._commit_offsets(",
        "commit_offsets, start_new_transaction=start_new_transaction",
        ")",
        "return False",
    ]
    assert transport._Consumer._commit_tps is not faust_consumer.Consumer._commit_tps


def test_faust_starts_its_tables_as_the_patch_does_but_after_a_fixed_second() -> None:
    """The override is Faust's ``TableManager.on_start`` without its ``sleep(1.0)``: when Faust
    changes that method, the override must be compared with it again."""
    from faust.tables import TableManager

    source = inspect.getsource(TableManager.on_start)
    body = [line.strip() for line in source.splitlines()[1:] if line.strip()]
    assert body == [
        '"""Call when table manager is starting."""',
        "await self.sleep(1.0)",
        "if not self.should_stop:",
        "await self._update_channels()",
        "await self.recovery.start()",
    ]
    patched = inspect.getsource(transport._TableManager.on_start)
    assert "await self.sleep" not in patched
    assert "await self._update_channels()" in patched
    assert "await self.recovery.start()" in patched


def test_faust_recovery_resumes_the_flow_after_its_seek_which_the_patch_makes_keep_the_queues() -> (
    None
):
    # What the patch works around: recovery resumes the flow (clearing every stream queue)
    # after it sought the stream partitions, with the flow already resumed to read changelogs.
    from faust.tables import recovery
    from faust.tables.recovery import Recovery
    from mode.utils.queues import FlowControlEvent

    for step in (Recovery._resume_streams, Recovery.on_recovery_completed):
        source = inspect.getsource(step)
        assert source.index("perform_seek()") < source.index("flow_control.resume()")
    assert "T(self.app.flow_control.resume)()" in inspect.getsource(recovery)  # (changelogs)
    assert "self.clear()" in inspect.getsource(FlowControlEvent.resume)
    app = transport.PumpstreamApp("pumpstream-test", fetch_max_wait_ms=100)
    assert type(app.flow_control) is transport._FlowControl


async def test_a_second_resume_keeps_what_the_queues_hold_and_a_resume_after_a_suspend_clears() -> (
    None
):
    from mode.utils.queues import FlowControlQueue

    flow = transport._FlowControl()  # (suspended, as Faust's starts)
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait("fetched while suspended")
    flow.resume()  # (recovery, to read the changelogs)
    assert queue.empty()
    queue.put_nowait("fetched after the seek")
    flow.resume()  # (recovery, once the stream partitions are sought)
    assert flow.is_active()
    assert queue.get_nowait() == "fetched after the seek"
    queue.put_nowait("fetched before a rebalance")
    flow.suspend()
    assert not flow.is_active()
    flow.resume()
    assert queue.empty()


def test_the_app_manages_its_tables_with_the_patched_manager() -> None:
    app = transport.PumpstreamApp("pumpstream-test", fetch_max_wait_ms=100)
    assert type(app.tables) is transport._TableManager


def test_faust_recovery_starts_where_the_bulk_store_says_it_read_to() -> None:
    """``streams/kafka/bulk_recovery.py`` relies on Faust's recovery asking the store for a
    partition's persisted offset when the partition is added, seeking to that offset itself
    (one record read again) and counting the highwater as the last offset; on the table manager
    rebalancing the tables (their stores) before the recovery; and on the memory store reading
    only these fields of an event."""
    from faust.stores import STORES
    from faust.stores.memory import Store
    from faust.tables import TableManager
    from faust.tables.recovery import Recovery

    from streams.kafka.bulk_recovery import BULK_RECOVERY_STORE, BulkRecoveryStore

    assert "table.persisted_offset(tp)" in inspect.getsource(Recovery._add)
    assert "offset = offsets[tp]" in inspect.getsource(Recovery._seek_offsets)
    assert "value - 1 if value is not None" in inspect.getsource(Recovery._build_highwaters)
    rebalance = inspect.getsource(TableManager.on_rebalance)
    assert rebalance.index("table.on_rebalance") < rebalance.index("self.recovery.on_rebalance")
    assert "on_rebalance" not in vars(transport._TableManager)
    batch = inspect.getsource(Store._create_batch_iterator)
    fields = {"event.key", "event.value", "event.message.value", "event.message.partition"}
    assert {f for f in fields if f in batch} == fields
    assert STORES.by_url(BULK_RECOVERY_STORE) is BulkRecoveryStore


def test_faust_hands_out_its_aiokafka_producer_which_takes_whole_batches() -> None:
    """``streams/kafka/batched_sends.py`` sends the validated copies as aiokafka batches through
    the producer Faust started (its ``_ensure_producer``), not through Faust's buffer."""
    assert "_ensure_producer" in vars(faust_aiokafka.Producer)
    assert "return self._producer" in inspect.getsource(faust_aiokafka.Producer._ensure_producer)
    assert inspect.signature(faust_aiokafka.Producer._ensure_producer).return_annotation in (
        "aiokafka.AIOKafkaProducer",
        AIOKafkaProducer,
    )
    assert list(inspect.signature(AIOKafkaProducer.send_batch).parameters) == [
        "self",
        "batch",
        "topic",
        "partition",
    ]
    assert "create_batch" in vars(AIOKafkaProducer)
