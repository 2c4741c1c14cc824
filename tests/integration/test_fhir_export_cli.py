"""`pumpstream fhir reactions` on the real embedded broker: the patient's newest history on the
``reactions`` topic comes out as a FHIR R4 Bundle on stdout; a patient without one gets an empty
Bundle, a note on stderr and exit 0."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag

from schemas.alerts import AckResponse
from schemas.topics import REACTIONS
from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.kafka.connection import KafkaConnection
from tests.integration.test_broker_cli import PUMPSTREAM, cli_env
from tests.support.kafka_client import produce
from tests.unit.test_fhir_export import history, reaction

pytestmark = pytest.mark.integration


async def _export(broker: EmbeddedBroker, patient_ref: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*PUMPSTREAM, "fhir", "reactions", patient_ref],
        capture_output=True,
        text=True,
        env=cli_env(PUMPSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap),
        timeout=60,
        check=False,
    )


async def test_prints_the_documented_reactions_as_a_bundle(
    broker: EmbeddedBroker, topics: KafkaConnection
) -> None:
    older = history(reaction("al-1"))
    newest = history(reaction("al-1"), reaction("al-2", response=AckResponse.FALSE_POSITIVE))
    for value in (older, newest):  # compacted topic: the newest history per key wins
        await produce(topics, REACTIONS.name, value.model_dump_json().encode(), b"pt-1")

    result = await _export(broker, "pt-1")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    bundle = Bundle.model_validate_json(result.stdout)
    assert bundle.type == "collection"
    found = [entry.resource for entry in bundle.entry or []]
    assert [type(r) for r in found] == [AllergyIntolerance, AllergyIntolerance, Flag]
    assert [r.identifier[0].value for r in found[:2]] == ["al-1", "al-2"]
    assert [r.verificationStatus.coding[0].code for r in found[:2]] == ["confirmed", "refuted"]
    assert found[2].subject.identifier.value == "pt-1"


async def test_a_patient_without_reactions_gets_an_empty_bundle_and_a_note(
    broker: EmbeddedBroker, topics: KafkaConnection
) -> None:
    await produce(topics, REACTIONS.name, history(reaction()).model_dump_json().encode(), b"pt-1")

    result = await _export(broker, "pt-2")

    assert result.returncode == 0, result.stderr
    bundle = Bundle.model_validate_json(result.stdout)
    assert (bundle.type, bundle.entry) == ("collection", None)
    assert result.stderr.strip() == "no documented reactions for pt-2: the Bundle is empty"
