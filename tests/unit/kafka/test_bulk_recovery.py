"""The bulk store decodes changelog records as the changelog topic's schema does (what Faust's
recovery hands the table), with its codecs looked up once (``streams/kafka/bulk_recovery.py``)."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from streams.kafka.bulk_recovery import BULK_RECOVERY_STORE
from streams.kafka.transport import PumpstreamApp

APP = PumpstreamApp(
    "bulk-decode", fetch_max_wait_ms=40, broker="kafka://127.0.0.1:9", value_serializer="raw"
)
#: As the patients' table is declared (streams/clinical/agent.py): str keys, bytes values.
TABLE = APP.Table("state", default=None, key_type=str, value_type=bytes, store=BULK_RECOVERY_STORE)


def _record(table: Any, key: str, value: bytes | None, offset: int) -> ConsumerRecord[Any, Any]:
    changelog = table.changelog_topic
    raw_key, _ = changelog.prepare_key(key, table.key_serializer)
    raw = None if value is None else changelog.prepare_value(value, table.value_serializer)[0]
    size = len(raw) if raw is not None else 0
    return ConsumerRecord("c", 0, offset, 0, 0, raw_key, raw, None, len(raw_key), size, [])


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.one_of(st.none(), st.binary(max_size=40))),
        min_size=1,
        max_size=20,
    )
)
def test_records_decode_as_the_changelog_schema_decodes_them(
    written: list[tuple[str, bytes | None]],
) -> None:
    schema = TABLE.changelog_topic.schema
    records = [_record(TABLE, key, value, n) for n, (key, value) in enumerate(written)]
    events = TABLE.data._events(schema, records)
    assert [e.key for e in events] == [schema.loads_key(APP, r) for r in records]
    assert [e.value for e in events] == [
        None if r.value is None else schema.loads_value(APP, r) for r in records
    ]
    assert [e.message for e in events] == records
