"""streams/cli/deploy_manifests.py writes YAML without a YAML library: whatever it writes must
read back (PyYAML, YAML 1.1 as Kubernetes reads it) as the data it was given."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from schemas.topics import ALL_TOPICS
from streams.cli.deploy_manifests import kafka_topics, kafka_topics_yaml, yaml_documents

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
    | st.sampled_from(["true", "No", "null", "~", "12", "1.5", "- x", "a: b", "#c", "", " x"])
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(_DATA, min_size=1, max_size=3))
def test_any_data_reads_back_unchanged(documents: list[Any]) -> None:
    assert list(yaml.safe_load_all(yaml_documents(documents))) == documents


@pytest.mark.parametrize("partitions", [1, 4, 12, 256])
def test_topics_yaml_reads_back_as_the_topics(partitions: int) -> None:
    text = kafka_topics_yaml(partitions)
    documents = list(yaml.safe_load_all(text))
    assert documents == kafka_topics(partitions)
    assert [d["metadata"]["name"] for d in documents] == [t.name for t in ALL_TOPICS]
    assert {d["spec"]["partitions"] for d in documents} == {partitions}
    assert f"Every topic has {partitions} partitions" in text


def test_no_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions"):
        kafka_topics(0)
