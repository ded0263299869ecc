"""The workload published on the services' own bus, forwarded by the stack's one rule there: every order
ends where its scenario says, no event is lost, and nothing the monitor publishes goes back there."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.loadrun import run
from local.runtime import LocalRuntime
from local.workload import Rates, generate
from tests.checks.grants import checked_runtime
from tests.conftest import SERVICES_BUS


@pytest.fixture(scope="module")
def forwarding_runtime(forwarding_stack: StackTemplate) -> Iterator[LocalRuntime]:
    with checked_runtime(forwarding_stack) as running:
        yield running


def test_a_workload_on_the_services_bus_completes_with_nothing_lost(
    forwarding_runtime: LocalRuntime, order_model: Choreography
) -> None:
    rates = Rates(duplicates=0.15, failure=0.1, stuck=0.0, orphans=0.05, malformed=0.03)
    workload = generate(order_model, 40, seed=21, rates=rates)
    report = run(forwarding_runtime, workload, bus=SERVICES_BUS)
    assert report["mismatches"] == {}
    assert report["lost"] == []
    assert report["events"]["accepted"] > 0
    assert set(report["expected"]) >= {"COMPLETED", "FAILED"}


def test_only_the_forwarding_rule_is_on_the_services_bus(forwarding_runtime: LocalRuntime) -> None:
    events = forwarding_runtime.session_client("events")
    rules = events.list_rules(EventBusName=SERVICES_BUS)["Rules"]
    assert len(rules) == 1
    pattern = json.loads(rules[0]["EventPattern"])
    assert forwarding_runtime.stack.resources[rules[0]["Name"]]["Properties"]["EventPattern"] == pattern
