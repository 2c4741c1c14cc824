"""The on-call roster file: the example validates; every mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.alerts import AlertPriority
from streams.alerting.roster import RosterError, load_roster, parse_roster
from tests.support.alerting import make_alert, roster_toml

EXAMPLE = Path(__file__).parents[3] / "deploy" / "alerting.example.toml"


def test_the_example_roster_validates_with_the_default_timeouts() -> None:
    roster = load_roster(EXAMPLE)
    assert roster.default_ward == "infusion-centre"
    assert [r.role for r in roster.wards["infusion-centre"].chain] == [
        "bedside_nurse", "charge_nurse", "prescriber",
    ]  # fmt: skip
    assert roster.escalation_timeout_s(make_alert(priority=AlertPriority.HIGH)) == 20
    assert roster.escalation_timeout_s(make_alert(priority=AlertPriority.MEDIUM)) == 60
    assert roster.escalation_timeout_s(make_alert(priority=AlertPriority.LOW)) is None
    day_unit_medium = make_alert(priority=AlertPriority.MEDIUM, ward="day-unit")
    assert roster.escalation_timeout_s(day_unit_medium) == 120
    assert roster.routes_to("alertmanager", make_alert(priority=AlertPriority.HIGH))
    assert not roster.routes_to("alertmanager", make_alert(priority=AlertPriority.LOW))
    assert not roster.routes_to("acm", make_alert(ward="day-unit"))


GOOD = roster_toml()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(GOOD.replace('role = "charge_nurse"', 'role = "Charge Nurse"'),
                     r"wards\.infusion-centre\.chain\.1\.role", id="bad-role"),
        pytest.param(GOOD.replace("high = 20", "high = -1"),
                     r"escalation_timeouts_s\.high: Input should be greater than or equal to 0", id="negative-timeout"),
        pytest.param(GOOD.replace('default_ward = "infusion-centre"', 'default_ward = "icu"'),
                     r"default_ward 'icu' is not one of the wards: infusion-centre", id="unknown-default-ward"),
        pytest.param(roster_toml(channels=["pager"]),
                     r"wards\.infusion-centre\.channels names unknown channel\(s\) pager", id="unknown-channel"),
        pytest.param(GOOD + '\n[channels.pager]\ntype = "webhook"\nurl = "not a url"\n',
                     r"channels\.pager\.url: Input should be a valid URL", id="bad-webhook-url"),
        pytest.param(GOOD + '\n[channels.acm]\ntype = "hl7-mllp"\nhost = "127.0.0.1"\nport = 0\n',
                     r"channels\.acm\.port: Input should be greater than or equal to 1", id="bad-mllp-port"),
        pytest.param(GOOD + '\n[channels.x]\ntype = "sms"\n', r"channels\.x: Input tag 'sms'", id="unknown-channel-type"),
        pytest.param(GOOD.replace("[wards.infusion-centre]", "[wards.infusion-centre]\npager = 1"),
                     r"wards\.infusion-centre\.pager: Extra inputs are not permitted", id="unknown-field"),
        pytest.param("default_ward = ", r"not valid TOML", id="not-toml"),
    ],
)  # fmt: skip
def test_a_bad_roster_names_the_field(text: str, message: str) -> None:
    with pytest.raises(RosterError, match=message):
        parse_roster(text, "roster.toml")


def test_a_missing_roster_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"cannot read the on-call roster .*nope\.toml"):
        load_roster(tmp_path / "nope.toml")
