"""The ``alert-episodes`` table's values and the notifications sent are the same before and after
the house move: a worker from before it and one after page from the same episodes.

``tests/support/data/pre_move_paging_episodes.json`` was made by the pre-move lifecycle (commit
02aad99) from the alerts of the recorded clinical scenarios (tests/support/data/README.md)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import AckResponse, ActionTaken, Alert, AlertAck
from streams.alerting.lifecycle import PagingEpisode, on_ack, on_alert, on_tick
from streams.alerting.roster import parse_roster
from tests.support.alerting import T0, roster_toml

DATA = Path(__file__).parents[2] / "support" / "data"
GOLDEN: dict[str, Any] = json.loads((DATA / "pre_move_paging_episodes.json").read_text())
SCENARIO_ALERTS: dict[str, Any] = json.loads((DATA / "pre_move_clinical_states.json").read_text())
ROSTER = parse_roster(roster_toml())


def _page(name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Feed the scenario's alerts through the lifecycle as the pre-move recording did: the first
    alert escalates once and is then accepted."""
    episodes: dict[str, str] = {}
    steps: list[dict[str, Any]] = []
    now = T0
    for i, raw in enumerate(SCENARIO_ALERTS[name]["alerts"]):
        alert = Alert.model_validate_json(raw)
        now = now + timedelta(seconds=30)
        t = on_alert(
            PagingEpisode.from_table_value(episodes.get(alert.alert_id)), alert, ROSTER, now, 1
        )
        if i == 0:
            if t.episode is not None:
                episodes[alert.alert_id] = t.episode.to_table_value()
            if alert.alert_id in episodes:
                stored = PagingEpisode.from_table_value(episodes[alert.alert_id])
                assert stored is not None
                t = on_tick(stored, ROSTER, now + timedelta(seconds=25))
            if t.episode is not None:
                episodes[alert.alert_id] = t.episode.to_table_value()
            ack = AlertAck(
                event_id=f"ack-{name}",
                alert_id=alert.alert_id,
                patient_ref=alert.patient_ref,
                response=AckResponse.ACCEPTED,
                action_taken=ActionTaken.SLOWED,
                event_time=now,
            )
            current = PagingEpisode.from_table_value(episodes.get(alert.alert_id))
            t = on_ack(current, ack, ROSTER, now + timedelta(seconds=40))
        if t.episode is None:
            episodes.pop(alert.alert_id, None)
        else:
            episodes[alert.alert_id] = t.episode.to_table_value()
        steps.append(
            {"notifications": [n.model_dump_json() for n in t.notifications], "ignored": t.ignored}
        )
    return episodes, steps


def _without_opened_event_time(value: str) -> str:
    """Issue 12 stores when (event time) a page opened once a later phase moved its alert's
    event time (a late episode can then re-open the page it belongs to); everything else is
    as before."""
    fields = json.loads(value)
    fields.pop("opened_event_time", None)
    return json.dumps(fields, separators=(",", ":"))


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_same_alerts_give_the_same_episodes_and_pages(name: str) -> None:
    episodes, steps = _page(name)
    assert steps == GOLDEN[name]["steps"]
    assert {k: _without_opened_event_time(v) for k, v in episodes.items()} == {
        k: _without_opened_event_time(v) for k, v in GOLDEN[name]["episodes"].items()
    }
