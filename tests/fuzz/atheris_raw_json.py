"""Coverage-guided fuzzing of ingest's raw JSON parser with atheris (libFuzzer), outside the test
suite: it runs until stopped or for ``-atheris_runs`` inputs, and checks what every outcome
promises (``ingest_promises.py``), as the hypothesis properties do. docs/reliability.md, "Fuzz".

    .venv/bin/pip install atheris
    .venv/bin/python -m tests.fuzz.atheris_raw_json --seeds CORPUS_DIR  # valid events to start
    .venv/bin/python -m tests.fuzz.atheris_raw_json -atheris_runs=2000000 CORPUS_DIR

The first input byte picks the raw topic, the next one the key's length; the rest is the key and
the value. pydantic's parser is compiled (Rust), so libFuzzer sees only Python's coverage: the
seeds give it valid events to mutate. A failing input is written to ``crash-<sha1>`` in the
current directory; replay it with ``python -m tests.fuzz.atheris_raw_json crash-<sha1>``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from schemas.events import SymptomKind
    from schemas.topics import RAW_TOPICS
    from tests.fuzz.ingest_promises import ARRIVAL, check


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    spec = RAW_TOPICS[provider.ConsumeIntInRange(0, len(RAW_TOPICS) - 1)]
    key_length = provider.ConsumeIntInRange(0, 70)
    key = None if key_length == 0 else provider.ConsumeBytes(key_length - 1)
    value = provider.ConsumeBytes(provider.remaining_bytes())
    check(spec, key, value)


def write_seeds(directory: Path) -> None:
    """A valid event of every kind, framed as :func:`one_input` reads its bytes."""
    from tests.support.events import Patient

    p = Patient("pt-seed", t0=ARRIVAL - timedelta(hours=2))
    events = {
        0: [p.start(), p.rate(30, 84.0), p.pause(40), p.resume(45, 84.0), p.stop(50), p.done(60)],
        1: [p.vitals(10)],
        2: [p.pain(50, 6), p.symptom(55, SymptomKind.HEADACHE, severe_headache=True)],
    }
    directory.mkdir(parents=True, exist_ok=True)
    for topic, topic_events in events.items():
        for n, event in enumerate(topic_events):
            seed = bytes([topic, 0]) + event.model_dump_json().encode()
            (directory / f"seed-{topic}-{n}").write_bytes(seed)


def main() -> None:
    if sys.argv[1:2] == ["--seeds"]:
        write_seeds(Path(sys.argv[2]))
        return
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
