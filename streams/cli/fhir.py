"""``pumpstream fhir reactions PATIENT_REF``: a patient's documented infusion reactions as a FHIR
R4 Bundle on stdout (the builder and the mapping: ``streams/cli/fhir_bundle.py``,
docs/intake-and-fhir.md). fhir.resources is imported inside the command, so ``pumpstream --help``
stays fast.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from schemas.base import PatientRef
from schemas.reactions import ReactionHistory
from schemas.validation_errors import problem_lines
from streams.exceptions import PumpstreamError
from streams.settings import load_settings

_PATIENT_REF: TypeAdapter[str] = TypeAdapter(PatientRef)


def _checked_patient_ref(patient_ref: str) -> str:
    try:
        return _PATIENT_REF.validate_python(patient_ref)
    except ValidationError as exc:
        reason = "; ".join(problem_lines(exc, top_level="PATIENT_REF"))
        raise PumpstreamError(
            f"{patient_ref!r} is not a patient_ref ({reason}): give the pseudonymous reference "
            "the pipeline uses (`pumpstream reactions show` takes the same), never an MRN"
        ) from None


def _register_fhir(cli: typer.Typer) -> None:
    """``pumpstream fhir ...``: export what pumpstream documented in FHIR R4."""
    fhir_cli = typer.Typer(help="FHIR R4 export (docs/intake-and-fhir.md).")
    cli.add_typer(fhir_cli, name="fhir", no_args_is_help=True)

    @fhir_cli.command("reactions")
    def reactions(
        patient_ref: Annotated[str, typer.Argument(help="The patient's pseudonymous reference.")],
    ) -> None:
        """Print a patient's documented infusion reactions as a FHIR R4 Bundle (JSON)."""
        from streams.cli.fhir_bundle import reactions_bundle
        from streams.cli.kafka_access import reachable_kafka
        from streams.clinical.reaction_ledger import read_history

        ref = _checked_patient_ref(patient_ref)
        kafka = reachable_kafka(load_settings())
        history = asyncio.run(read_history(kafka, ref)) or ReactionHistory(
            patient_ref=ref, reactions=()
        )
        bundle = reactions_bundle(history, datetime.now(UTC))
        sys.stdout.write(bundle.model_dump_json(indent=2) + "\n")
        if not history.reactions:
            sys.stderr.write(f"no documented reactions for {ref}: the Bundle is empty\n")
