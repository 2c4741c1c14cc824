"""The nurse station page in Debian's real headless Chromium (Selenium + chromedriver): a new
alert appears live, and the acknowledge button sends the response that stops escalation; the
"report pain" form sends a SymptomReport to symptoms.raw, and shows the field problems of an
invalid one."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPhase, AlertPriority
from schemas.events import NeurologicalSigns, SymptomKind, SymptomReport
from schemas.notifications import AlertNotification
from schemas.topics import ALERT_ACKS, ALERT_NOTIFICATIONS, ALERTS, SYMPTOMS_RAW
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import read_topic
from tests.support.alerting import live_alert, write_roster
from tests.support.kafka_client import produce, read_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "nurse-station-test-token"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    assert CHROMIUM, "run scripts/install-system-deps.sh (chromium)"
    assert CHROMEDRIVER, "run scripts/install-system-deps.sh (chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def _wait_until_serving(url: str, timeout_s: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{url} not served within {timeout_s} s")
            await asyncio.sleep(0.1)


async def test_page_shows_a_new_alert_and_acknowledges_it(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    browser: WebDriver,
) -> None:
    port = free_port()
    roster = write_roster(tmp_path / "roster.toml")
    start_worker(
        PUMPSTREAM_ALERTING_CONFIG=str(roster),
        PUMPSTREAM_NURSE_STATION_PORT=str(port),
        PUMPSTREAM_ACK_TOKEN=TOKEN,
    )
    # The worker is "ready" once it holds its partitions; Faust starts extra services (the
    # nurse station among them) after table recovery, a moment later.
    await _wait_until_serving(f"http://127.0.0.1:{port}/nurse-station")
    browser.get(f"http://127.0.0.1:{port}/nurse-station?ward=infusion-centre#token={TOKEN}")
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "0 active"))
    assert "token" not in browser.current_url, "the token leaves the address bar"

    alert = live_alert("episode-page", pain=9)
    await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-1")

    card = wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, 'section.alert[data-alert-id="episode-page"]')
        )
    )
    text = card.text
    assert "Back pain 9/10, 18 min after rate increase to 4 mg/kg/min" in text
    assert "pain 9/10" in text
    assert "84 -> 168 mL/h" in text
    assert "Pause the infusion." in text
    assert "Check hydration." in text
    assert "paged: bedside nurse (Bay nurse)" in text
    browser.save_screenshot(str(tmp_path / "nurse-station.png"))

    Select(card.find_element(By.NAME, "response")).select_by_value("true_positive")
    Select(card.find_element(By.NAME, "action_taken")).select_by_value("paused")
    card.find_element(By.CLASS_NAME, "ack-button").click()

    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, '[data-alert-id="episode-page"] .ack-status'),
            "acknowledged: true positive, action: paused",
        )
    )
    acks = await read_until(topics, ALERT_ACKS.name, lambda rs: len(rs) >= 1)
    sent = AlertAck.model_validate_json(acks[0].value or b"")
    assert (sent.alert_id, sent.patient_ref) == ("episode-page", "pt-1")
    assert (sent.response, sent.action_taken) == (AckResponse.TRUE_POSITIVE, ActionTaken.PAUSED)
    notes = await read_until(topics, ALERT_NOTIFICATIONS.name, lambda rs: len(rs) >= 2)
    response = AlertNotification.model_validate_json(notes[-1].value or b"")
    assert response.kind == "response"
    assert response.escalation_due_at is None, "the ack stopped escalation"


async def test_report_pain_form_sends_a_symptom_report_and_shows_field_problems(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    browser: WebDriver,
) -> None:
    port = free_port()
    roster = write_roster(tmp_path / "roster.toml")
    start_worker(
        PUMPSTREAM_ALERTING_CONFIG=str(roster),
        PUMPSTREAM_NURSE_STATION_PORT=str(port),
        PUMPSTREAM_ACK_TOKEN=TOKEN,
    )
    await _wait_until_serving(f"http://127.0.0.1:{port}/nurse-station")
    alert = live_alert("episode-form", pain=5, patient="pt-7")
    await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-7")
    browser.get(f"http://127.0.0.1:{port}/nurse-station?ward=infusion-centre#token={TOKEN}")
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, 'section.alert[data-alert-id="episode-form"]')
        )
    )

    browser.find_element(By.CSS_SELECTOR, "#report-pain summary").click()
    pick = Select(browser.find_element(By.ID, "report-patient-pick"))
    assert [o.get_attribute("value") for o in pick.options] == ["", "pt-7"], "the board's patients"
    pick.select_by_value("pt-7")
    assert browser.find_element(By.ID, "report-patient").get_attribute("value") == "pt-7"
    scale = browser.find_elements(By.CSS_SELECTOR, 'input[name="pain_score"]')
    assert [s.get_attribute("value") for s in scale] == [str(n) for n in range(11)]
    assert not any(s.is_selected() for s in scale), "no pain score is pre-selected"
    browser.find_element(By.CSS_SELECTOR, 'input[name="pain_score"][value="7"]').click()
    Select(browser.find_element(By.ID, "report-site")).select_by_value("back_pain")
    browser.find_element(By.CSS_SELECTOR, '#report-neuro input[name="tingling"]').click()
    browser.find_element(By.ID, "report-submit").click()

    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.ID, "report-result"), "Report sent for pt-7 (pain 7/10, back): event id "
        )
    )
    event_id = browser.find_element(By.ID, "report-event-id").text
    browser.save_screenshot(str(tmp_path / "report-pain-sent.png"))
    (record,) = await read_topic(topics, SYMPTOMS_RAW.name)  # acknowledged before the answer
    assert record.key == b"pt-7"
    report = SymptomReport.model_validate_json(record.value or b"")
    assert report.event_id == event_id
    assert (report.patient_ref, report.symptom, report.pain_score, report.reporter) == (
        "pt-7", SymptomKind.BACK_PAIN, 7, "nurse",
    )  # fmt: skip
    assert report.neurological == NeurologicalSigns(tingling=True)
    assert browser.find_element(By.ID, "report-patient").get_attribute("value") == "", "cleared"

    # Typed patient, back pain, no score: the schema's problem is shown and nothing is sent.
    browser.find_element(By.ID, "report-patient").send_keys("pt-8")
    Select(browser.find_element(By.ID, "report-site")).select_by_value("back_pain")
    browser.find_element(By.ID, "report-submit").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.ID, "report-errors"), "a back_pain report needs pain_score (NRS 0-10)"
        )
    )
    assert browser.find_element(By.ID, "report-result").text == "Not sent: correct the following."
    browser.find_element(By.ID, "report-patient").send_keys(" x")
    browser.find_element(By.ID, "report-submit").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.ID, "report-errors"), "Patient: String should match pattern"
        )
    )
    browser.save_screenshot(str(tmp_path / "report-pain-problems.png"))
    assert len(await read_topic(topics, SYMPTOMS_RAW.name)) == 1


STAFF = (
    '\n[[staff]]\nid = "n-ahmed"\nname = "A. Ahmed"\n\n[[staff]]\nid = "n-berg"\nname = "C. Berg"\n'
)


async def test_a_choice_survives_board_updates_and_names_the_nurse(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    browser: WebDriver,
) -> None:
    """Issue 12: nothing pre-selected; a nurse's unsent choice survives updates of the board
    (another page arriving, this page's own refresh); a new high-priority page is cued; the ack
    names the nurse by roster id; the closed page is in the history."""
    port = free_port()
    roster = tmp_path / "roster.toml"
    write_roster(roster)
    roster.write_text(roster.read_text(encoding="utf-8") + STAFF, encoding="utf-8")
    start_worker(
        PUMPSTREAM_ALERTING_CONFIG=str(roster),
        PUMPSTREAM_NURSE_STATION_PORT=str(port),
        PUMPSTREAM_ACK_TOKEN=TOKEN,
        PUMPSTREAM_PAGE_HOLD_S="0",
    )
    await _wait_until_serving(f"http://127.0.0.1:{port}/nurse-station")
    browser.get(f"http://127.0.0.1:{port}/nurse-station?ward=infusion-centre#token={TOKEN}")
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "0 active"))

    first = live_alert("choice-1", pain=5, priority=AlertPriority.MEDIUM)
    await produce(topics, ALERTS.name, first.model_dump_json().encode(), b"pt-1")
    selector = 'section.alert[data-alert-id="choice-1"]'
    card = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))
    response = Select(card.find_element(By.NAME, "response"))
    action = Select(card.find_element(By.NAME, "action_taken"))
    assert response.first_selected_option.get_attribute("value") == "", "nothing pre-selected"
    assert action.first_selected_option.get_attribute("value") == ""
    button = card.find_element(By.CLASS_NAME, "ack-button")
    assert not button.is_enabled(), "no answer without a choice and a nurse"

    response.select_by_value("not_clinically_relevant")
    action.select_by_value("slowed")
    assert not button.is_enabled(), "who is answering is still unknown"

    # The board changes while the choice is unsent: another patient's high page, and an
    # update of this page (pain 5 -> 6, same priority: a refresh, no page).
    other = live_alert("choice-2", pain=9, patient="pt-2")
    await produce(topics, ALERTS.name, other.model_dump_json().encode(), b"pt-2")
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "2 active"))
    update = live_alert("choice-1", pain=6, priority=AlertPriority.MEDIUM, phase=AlertPhase.UPDATE)
    await produce(topics, ALERTS.name, update.model_dump_json().encode(), b"pt-1")
    wait.until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), "pain 6/10")
    )
    card = browser.find_element(By.CSS_SELECTOR, selector)
    assert (
        Select(card.find_element(By.NAME, "response")).first_selected_option.get_attribute("value")
        == "not_clinically_relevant"
    ), "the unsent choice survived both updates"
    assert (
        Select(card.find_element(By.NAME, "action_taken")).first_selected_option.get_attribute(
            "value"
        )
        == "slowed"
    )
    assert "not sent yet" in card.text
    # The new high page is cued (the first one, medium and present at load, is not).
    cue = browser.find_element(By.ID, "cue")
    assert cue.is_displayed()
    assert "New high-priority page" in cue.text
    assert "pt-2" in cue.text
    high = browser.find_element(By.CSS_SELECTOR, 'section.alert[data-alert-id="choice-2"]')
    assert "new-high" in (high.get_attribute("class") or "")
    assert "new-high" not in (card.get_attribute("class") or "")
    browser.save_screenshot(str(tmp_path / "nurse-station-choice.png"))

    Select(browser.find_element(By.ID, "responder")).select_by_value("n-berg")
    card.find_element(By.CLASS_NAME, "ack-button").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, f"{selector} .ack-status"),
            "acknowledged: not clinically relevant, action: slowed (C. Berg, n-berg)",
        )
    )
    acks = await read_until(topics, ALERT_ACKS.name, lambda rs: len(rs) >= 1)
    sent = AlertAck.model_validate_json(acks[0].value or b"")
    assert (sent.alert_id, sent.response, sent.action_taken, sent.responder_id) == (
        "choice-1", AckResponse.NOT_CLINICALLY_RELEVANT, ActionTaken.SLOWED, "n-berg",
    )  # fmt: skip

    ended = live_alert("choice-1", pain=0, priority=AlertPriority.MEDIUM, phase=AlertPhase.END)
    await produce(topics, ALERTS.name, ended.model_dump_json().encode(), b"pt-1")
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "1 active"))
    browser.find_element(By.CSS_SELECTOR, "#history summary").click()
    Select(browser.find_element(By.ID, "history-filter")).select_by_value("closed")
    item = browser.find_element(By.CSS_SELECTOR, '#history-list [data-alert-id="choice-1"]')
    assert "closed" in item.text
    assert "n-berg" in item.text
    assert not browser.find_elements(By.CSS_SELECTOR, '#history-list [data-alert-id="choice-2"]')
