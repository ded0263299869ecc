"""The web console in headless Chromium, against the local runtime: find an order by an id a URL must
encode, watch it move on by itself as its events arrive, see its graph, and get a clear message for a
bad id; the server refuses requests without the session's token or with another site's Host."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from console.server import Console, serve_console
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.console_source import local_source
from local.events import EventFactory
from local.runtime import LocalRuntime
from tests.e2e.waiting import WAIT_S, until


@pytest.fixture(scope="module")
def runtime(order_stack: StackTemplate) -> Iterator[LocalRuntime]:
    with LocalRuntime(order_stack) as running:
        yield running


@pytest.fixture(scope="module")
def console(runtime: LocalRuntime, order_model: Choreography) -> Iterator[Console]:
    with serve_console([local_source(runtime)]) as served:
        yield served


def _row_states(browser: webdriver.Chrome) -> dict[str, str]:
    """Each milestone row's state, read in one go: the page swaps its content in while it refreshes."""
    script = """return Array.from(document.querySelectorAll('main table tr')).slice(1)
        .map(row => Array.from(row.cells).map(cell => cell.textContent.trim()));"""
    return {cells[0]: cells[1] for cells in browser.execute_script(script)}


def _heading(browser: webdriver.Chrome) -> str:
    text: str = browser.execute_script("return (document.querySelector('main h1') || {}).textContent || ''")
    return text


def test_an_order_found_by_its_id_moves_on_by_itself_with_its_graph(
    runtime: LocalRuntime, console: Console, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    order_id = f"ORD-M\u00fcller-{time.monotonic_ns() % 10**8}"  # ü: the id a URL must encode
    placed, paid, *_ = EventFactory(order_model).lifecycle(order_id)
    first, second = order_model.milestones[0].name, order_model.milestones[1].name
    runtime.deliver(placed)
    assert runtime.wait_until_waiting(order_id, first, WAIT_S)

    browser.get(console.url)
    search = browser.find_element(By.NAME, "id")
    search.send_keys(order_id, Keys.ENTER)
    until(lambda: order_id in _heading(browser), "the order's page opened")
    assert f"awaiting {first}" in _heading(browser)
    assert _row_states(browser)[first] == "awaiting"
    assert browser.find_elements(By.CSS_SELECTOR, f'.graph g.state[data-state="{first}"][data-outcome="awaiting"]')

    runtime.deliver(paid)  # no reload: the page polls and swaps itself in
    until(lambda: _row_states(browser).get(first) == "done", f"{first} shown done")
    until(lambda: f"awaiting {second}" in _heading(browser), f"awaiting {second}")
    assert browser.find_elements(By.CSS_SELECTOR, f'.graph g.state[data-state="{first}"][data-outcome="done"]')


def test_an_order_whose_services_acted_out_of_order_says_which_and_by_how_much(
    runtime: LocalRuntime, console: Console, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    order_id = f"ORD-early-{time.monotonic_ns() % 10**8}"
    factory = EventFactory(order_model)
    placed, paid, reserved, *_ = factory.lifecycle(order_id)
    factory.stamp(placed, "2026-03-01T10:00:00Z")
    factory.stamp(paid, "2026-03-01T10:30:00Z")
    factory.stamp(reserved, "2026-03-01T10:10:00Z")  # stock reserved 20 minutes before the payment
    first, second = order_model.milestones[0].name, order_model.milestones[1].name
    runtime.deliver(placed)
    assert runtime.wait_until_waiting(order_id, first, WAIT_S)
    runtime.deliver(paid)
    assert runtime.wait_until_waiting(order_id, second, WAIT_S)
    runtime.deliver(reserved)
    browser.get(f"{console.url.split('/?')[0]}/{order_model.name}/orders/{order_id}?token={console.token}")
    until(lambda: browser.find_elements(By.CSS_SELECTOR, ".deviations li"), "the deviation shown")
    (line,) = [item.text for item in browser.find_elements(By.CSS_SELECTOR, ".deviations li")]
    assert line == f"{second} happened 20 min before {first}, which it follows in the model."
    # Marked by the correlator as it compared the pair: listed while the order is still open.
    browser.find_element(By.ID, "deviations").click()
    row = f'#deviating tr[data-order="{order_id}"]'
    until(lambda: browser.find_elements(By.CSS_SELECTOR, row), "the order listed out of order")
    cells = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, f"{row} td")]
    assert cells[:3] == [order_id, f"{second} before {first} by 20 min", "running"]
    browser.find_element(By.LINK_TEXT, order_id).click()
    until(lambda: order_id in _heading(browser), "the order's page opened from the listing")


def test_a_bad_id_gets_the_status_functions_message_not_a_stack_trace(
    console: Console, browser: webdriver.Chrome, order_model: Choreography
) -> None:
    browser.get(console.url)
    browser.find_element(By.NAME, "id").send_keys("no/such order", Keys.ENTER)
    until(lambda: browser.find_elements(By.CSS_SELECTOR, ".problem"), "a problem shown")
    message = browser.find_element(By.CSS_SELECTOR, ".problem").text
    assert message.startswith(order_model.instance_key)  # names the parameter, as the status function does
    assert "'/'" in message
    assert "Traceback" not in browser.page_source


def _status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_console_answers_only_its_own_browser(console: Console) -> None:
    base = f"http://127.0.0.1:{console.port}/{console.sources[0].model_name}/orders"
    assert _status_of(f"{base}?token={console.token}") == 200
    assert _status_of(base) == 403  # no token, no cookie
    assert _status_of(f"{base}?token=guess") == 403
    # DNS rebinding: a page of evil.example that resolves to 127.0.0.1 sends its own Host.
    assert _status_of(f"{base}?token={console.token}", {"Host": f"evil.example:{console.port}"}) == 403
