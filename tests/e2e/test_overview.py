"""The console's overview in headless Chromium, against seeded orders on the local runtime: its counts
are the status function's, a click on the stuck orders leads to one whose graph shows where it is stuck,
the quarantine's messages are shown with their reasons and stay queued, and a new order shows up by
itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from console.server import Console, serve_console
from console.source import StackSource
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.console_source import local_source
from local.events import EventFactory
from local.runtime import LocalRuntime
from local.seed import Seeded, seed, with_first_sla_short
from tests.e2e.waiting import until

COUNTS = {"completed": 3, "failed": 2, "stuck": 2, "running": 2, "quarantined": 1}


@pytest.fixture(scope="module")
def runtime(order_stack: StackTemplate, order_model: Choreography) -> Iterator[LocalRuntime]:
    with LocalRuntime(with_first_sla_short(order_stack, order_model)) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(runtime: LocalRuntime, order_model: Choreography) -> Seeded:
    return seed(runtime, order_model, COUNTS)


@pytest.fixture(scope="module")
def source(runtime: LocalRuntime) -> StackSource:
    return local_source(runtime)


@pytest.fixture(scope="module")
def console(source: StackSource, seeded: Seeded) -> Iterator[Console]:
    with serve_console([source]) as served:
        yield served


def _cards(browser: webdriver.Chrome) -> dict[str, str]:
    script = """return Object.fromEntries(Array.from(document.querySelectorAll('.card'))
        .map(card => [card.id, card.querySelector('.count').textContent.trim()]));"""
    cards: dict[str, str] = browser.execute_script(script)
    return cards


def _rows(browser: webdriver.Chrome, table: str) -> dict[str, list[str]]:
    script = f"""return Array.from(document.querySelectorAll('#{table} tr')).slice(1)
        .map(row => Array.from(row.cells).map(cell => cell.textContent.trim()));"""
    return {cells[0].split(" ")[0]: cells[1:] for cells in browser.execute_script(script)}


def _listed(source: StackSource, status: str) -> list[dict[str, Any]]:
    return list(source.orders({"status": status, "limit": "100"})["orders"])


def test_the_overviews_counts_are_the_status_functions(
    console: Console, source: StackSource, seeded: Seeded, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    browser.get(console.url)
    until(lambda: "open" in _cards(browser), "the overview shown")
    cards = _cards(browser)
    stuck, running = _listed(source, "STUCK"), _listed(source, "RUNNING")
    failed, completed = _listed(source, "FAILED"), _listed(source, "COMPLETED")
    assert len(stuck) == len(seeded.stuck)  # the seed is what it says
    assert len(failed) == len(seeded.failed)
    assert cards["stuck"] == str(len(stuck))
    assert cards["failed"] == str(len(failed))
    assert cards["completed"] == str(len(completed))
    # A stuck order is still a running execution (the instance stays RUNNING; its milestone is marked).
    assert cards["open"] == str(len(running)) == str(len(seeded.stuck) + len(seeded.running))
    assert cards["started"] == str(len(running) + len(failed) + len(completed))
    rows = _rows(browser, "milestones")
    assert list(rows) == [m.name for m in order_model.milestones]
    for milestone in order_model.milestones:
        _sla, stuck_here, failed_here = rows[milestone.name]
        assert stuck_here == str(sum(entry["milestone"] == milestone.name for entry in stuck))
        assert failed_here == str(sum(entry["milestone"] == milestone.name for entry in failed))
    assert _rows(browser, "queues")["quarantine"][0] == str(seeded.quarantined)
    assert browser.find_elements(By.CSS_SELECTOR, 'section.still .graph g.state[data-state="Stuck"]')


def test_a_click_on_the_stuck_orders_leads_to_one_whose_graph_shows_it_stuck(
    console: Console, seeded: Seeded, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    first = order_model.milestones[0].name
    browser.get(console.url)
    browser.find_element(By.ID, "stuck").click()
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "main table a"), "the stuck orders listed")
    links = browser.find_elements(By.CSS_SELECTOR, "main table a")
    assert sorted(link.text for link in links) == sorted(seeded.stuck)
    links[0].click()
    until(lambda: f"stuck at {first}" in browser.find_element(By.CSS_SELECTOR, "main h1").text, "the order's page")
    # The order goes round its escalations every SLA (2 s here): the graph is read, in one go, at a moment
    # when it waits again at the milestone, past the Stuck state.
    outcomes = """const graph = document.querySelectorAll('.graph g.state');
        return Object.fromEntries(Array.from(graph).map(s => [s.dataset.state, s.dataset.outcome]));"""
    until(
        lambda: {"Stuck": "done", first: "awaiting"}.items() <= browser.execute_script(outcomes).items(),
        f"the graph shows {first} awaiting again, past Stuck",
    )
    past = browser.execute_script(
        "return Array.from(document.querySelectorAll('main table tr')).find(r => r.cells[0].textContent === arguments[0])"
        ".cells[8].textContent",
        first,
    )
    assert re.fullmatch(r"[\d.]+ (s|min) \(escalation \d+\)", past)  # how long past its SLA, which escalation


def test_the_quarantine_is_shown_with_its_reasons_and_stays_queued(
    console: Console, source: StackSource, seeded: Seeded, browser: webdriver.Chrome
) -> None:
    browser.get(console.url)
    browser.find_element(By.CSS_SELECTOR, '#queues tr[data-queue="quarantine"] a').click()
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "main table tr td"), "the messages shown")
    reasons = browser.execute_script(
        "return Array.from(document.querySelectorAll('main table tr')).slice(1).map(r => r.cells[2].textContent)"
    )
    assert len(reasons) == seeded.quarantined
    assert all(reason.startswith("quarantined: detail.orderId:") and "'/'" in reason for reason in reasons)
    (quarantine,) = [queue for queue in source.queues() if queue.name == "quarantine"]
    assert quarantine.visible == seeded.quarantined  # read, not taken: a redrive still finds them


def test_a_new_order_shows_up_without_a_reload(
    console: Console, runtime: LocalRuntime, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    browser.get(console.url)
    until(lambda: "started" in _cards(browser), "the overview shown")
    before = int(_cards(browser)["started"])
    order_id = f"ORD-new-{time.monotonic_ns() % 10**8}"
    runtime.deliver(EventFactory(order_model).event(order_model.start_event, order_id))
    until(lambda: _cards(browser)["started"] == str(before + 1), "the new order counted")
