"""``pumpstream simulate``: run a scenario as fast as possible and write what it produced.

Output directory::

    pump.events.raw.ndjson  vitals.raw.ndjson  symptoms.raw.ndjson   the JSON feed (with faults)
    hl7/pcd-01-vitals.hl7  hl7/pcd-10-pump-events.hl7  hl7/pain-observations.hl7  (clean feed)
    truth.json     ground-truth labels (reaction episodes and conditions, with the rules due)
    faults.json    what each fault did, message by message
    manifest.json  scenario, seed, message counts

Nothing depends on the wall clock: the same scenario and seed give byte-identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulators.day_labels import label_day
from simulators.faults import FaultReport, apply_faults
from simulators.ground_truth import GroundTruth
from simulators.hl7_feed import write_hl7
from simulators.infusion_centre import InfusionCentre
from simulators.recording import to_sim_events, write_recording
from simulators.scenario import Scenario


@dataclass(frozen=True, slots=True)
class DayResult:
    paths: list[Path]
    messages: dict[str, int]
    truth: GroundTruth
    faults: FaultReport


def simulate_day(
    scenario: Scenario,
    seed: int,
    out_dir: Path,
    *,
    hl7: bool = True,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> DayResult:
    """Run the day and write its files; ``on_progress(done, total)`` counts the emitted events
    converted to HL7 (the slow part; once, at the end, without HL7)."""
    centre = InfusionCentre(scenario, seed)
    centre.run()
    emitted = centre.emitted
    truth = label_day(centre)
    events, report = apply_faults(to_sim_events(emitted), scenario.faults, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_recording(out_dir, events)
    total = len(emitted)
    if hl7:
        monitors = {v.profile.patient_ref: v.monitor_id for v in centre.visits}
        done = 0

        def converted() -> None:
            nonlocal done
            done += 1
            if done % 50 == 0 or done == total:
                on_progress(done, total)

        paths += write_hl7(out_dir / "hl7", emitted, monitors, on_message=converted)
    on_progress(total, total)
    truth_path = out_dir / "truth.json"
    truth.write(truth_path)
    faults_path = out_dir / "faults.json"
    faults_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    messages = dict(sorted(Counter(e.topic for e in events).items()))
    manifest = {
        "scenario": scenario.name,
        "seed": seed,
        "start": scenario.start.isoformat(),
        "duration_h": scenario.duration_h,
        "chairs": scenario.chairs,
        "infusions": truth.infusions,
        "messages": messages,
        "labels": dict(sorted(Counter(label.kind.value for label in truth.labels).items())),
        "faults": {k: v for k, v in report.counts.items() if v},
    }
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return DayResult([*paths, truth_path, faults_path, manifest_path], messages, truth, report)
