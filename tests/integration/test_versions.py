"""A model change with orders in flight, on the local runtime: orders open on version 1 end on version
1's graph after version 2 is deployed, new orders start on version 2, and no event is lost."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from werkzeug.test import Client

from console.server import Console
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions, state_machine_name
from local.assembly import StackTemplate
from local.console_source import local_source
from local.events import EventFactory
from local.model_change import ADDED_EVENT
from local.runtime import LocalRuntime
from tests.checks.grants import checked_runtime
from tests.integration.conftest import status_get

ORDERS_ON_FIRST = 50
ORDERS_ON_NEXT = 20
WAIT_S = 120


def _plan(model: Choreography, prefix: str, count: int, fail_every: int, fail_at: int) -> dict[str, Any]:
    """Order id -> its lifecycle under `model`: every `fail_every`-th fails at milestone `fail_at`."""
    factory = EventFactory(model)
    failing = model.milestones[fail_at].name
    return {
        f"{prefix}-{number}": factory.lifecycle(f"{prefix}-{number}", failing if number % fail_every == 0 else None)
        for number in range(count)
    }


def _correlator_reads(runtime: LocalRuntime, since: int) -> int:
    correlator = runtime.correlator.logical_id
    return sum(1 for c in runtime.calls.made[since:] if c.function == correlator and c.operation == "GetItem")


def test_orders_open_on_version_1_end_on_its_graph_after_version_2_is_deployed(
    order_stack: StackTemplate,
    order_model: Choreography,
    versioned_stack: StackTemplate,
    next_order_model: Choreography,
) -> None:
    first, second = order_model, next_order_model
    versions = Versions(second, (first,))
    rng = random.Random(15)
    on_first = _plan(first, "V1", ORDERS_ON_FIRST, fail_every=5, fail_at=1)
    on_second = _plan(second, "V2", ORDERS_ON_NEXT, fail_every=4, fail_at=len(second.milestones) - 2)
    with checked_runtime(order_stack) as runtime:
        # Version 1 only: every order starts, and each goes some milestones along (none to its end).
        before = len(runtime.calls.made)
        remaining: list[dict[str, Any]] = []
        for number, lifecycle in enumerate(on_first.values()):
            done = 1 + number % (len(lifecycle) - 1)
            for event in lifecycle[:done]:
                runtime.deliver(event)
            remaining += lifecycle[done:]
            remaining.append(lifecycle[0])  # its start again, after the deployment: no second execution
        for number, (order_id, lifecycle) in enumerate(on_first.items()):
            waiting_at = first.milestones[number % (len(lifecycle) - 1)].name
            assert runtime.wait_until_waiting(order_id, waiting_at), f"{order_id} never waited at {waiting_at}"
        assert _correlator_reads(runtime, before) == 0  # one version shipped: no event needs its order's

        runtime.deploy(versioned_stack)
        after_deploy = len(runtime.calls.made)
        # The added milestone's events come through the bus first (the rules must route their new
        # source), before their orders start; every other event is delivered twice, shuffled.
        added = [
            event for lifecycle in on_second.values() for event in lifecycle if event["detail-type"] == ADDED_EVENT
        ]
        accepted_before = runtime.accepted_event_ids()
        assert runtime.publish(added) == len(added)  # one invocation each, none failed
        routed_ids = runtime.accepted_event_ids() - accepted_before
        assert len(routed_ids) == len(added)
        deliveries = [
            event
            for lifecycle in on_second.values()
            for event in lifecycle
            if event["detail-type"] != ADDED_EVENT
            for _ in range(2)
        ] + [event for event in remaining for _ in range(2)]
        rng.shuffle(deliveries)
        for event in deliveries:
            runtime.deliver(event)
        statuses = runtime.wait_for_executions([*on_first, *on_second], timeout_s=WAIT_S)

        for model, plan in ((first, on_first), (second, on_second)):
            for order_id, lifecycle in plan.items():
                _assert_ended_on_its_version(runtime, model, order_id, lifecycle, statuses[order_id])
        # One execution per order, each on its version's machine: the repeated starts made none on 2.
        for model, plan in ((first, on_first), (second, on_second)):
            listed = runtime.stepfunctions.list_executions(stateMachineArn=_machine_arn(runtime, model))
            assert sorted(e["name"] for e in listed["executions"]) == sorted(plan)

        # No event lost: every one recorded, none quarantined.
        delivered_ids = {event["id"] for event in deliveries} | set(routed_ids)
        assert delivered_ids <= runtime.accepted_event_ids()
        assert runtime.correlator_outcomes()["quarantined"] == 0
        quarantine = next(name for name in runtime.names if name.startswith("Quarantine"))
        assert runtime.queue_messages(quarantine) == []
        # A read only for the events the two versions read differently, one per delivery.
        types = [*(e["detail-type"] for e in deliveries), *(e["detail-type"] for e in added)]
        assert _correlator_reads(runtime, after_deploy) == sum(t not in versions.common_events for t in types)
        assert versions.common_events  # and some events need none
        _assert_the_console_shows_each_orders_version(runtime, first, second, [*on_first], [*on_second])


def _assert_the_console_shows_each_orders_version(
    runtime: LocalRuntime, first: Choreography, second: Choreography, on_first: list[str], on_second: list[str]
) -> None:
    """Its pages, as the browser gets them: each order's version, and its graph drawn from that version."""
    console = Console([local_source(runtime)], port=8000)  # called in this process: nothing listens
    browser = Client(console)

    def page(path: str) -> str:
        response = browser.get(path, base_url="http://127.0.0.1:8000", query_string={"token": console.token})
        assert response.status_code == 200, path
        return response.get_data(as_text=True)

    name = first.name
    overview = page(f"/{name}/")
    assert f"version {second.version}; orders started earlier stay on {first.version}" in overview
    started = len(on_first) + len(on_second)
    assert f'<span class="count">{started}</span>started' in overview  # counted on both machines
    renamed, added = first.milestones[2].name, second.milestones[-1].name
    for order_id, model, drawn, not_drawn in (
        (on_first[1], first, renamed, added),
        (on_second[1], second, added, renamed + "<"),
    ):
        order = page(f"/{name}/orders/{order_id}")
        assert f"model {name} {model.version}" in order
        graph = order[order.index("<svg") :]
        assert f">{drawn}<" in graph, (order_id, drawn)
        assert f">{not_drawn}" not in graph, (order_id, not_drawn)


def _assert_ended_on_its_version(
    runtime: LocalRuntime, model: Choreography, order_id: str, lifecycle: list[dict[str, Any]], status: str
) -> None:
    failure = next((e["detail-type"] for e in lifecycle if model.roles[e["detail-type"]].outcome == "failure"), None)
    assert status == ("FAILED" if failure else "SUCCEEDED"), order_id
    assert runtime.execution_arn(order_id).split(":")[-2] == state_machine_name(model)
    graph = runtime.definition_of(order_id)["States"]
    assert {m.name for m in model.milestones} <= set(graph), order_id
    first_milestone = model.milestones[0]
    assert graph[first_milestone.name]["TimeoutSeconds"] == first_milestone.sla_seconds
    entered = Counter(runtime.states_entered(order_id))
    reached = [model.roles[e["detail-type"]].milestone for e in lifecycle[1:]]
    assert all(entered[m.name] == 1 for m in reached if m), (order_id, entered)
    answer = status_get(runtime, f"/orders/{order_id}")
    assert (answer["modelVersion"], [m["name"] for m in answer["milestones"]]) == (
        model.version,
        [m.name for m in model.milestones],
    )
    assert answer["status"] == (table.FAILED if failure else table.COMPLETED)


def _machine_arn(runtime: LocalRuntime, model: Choreography) -> str:
    return next(arn for arn in runtime.state_machine_arns if arn.endswith(f":{state_machine_name(model)}"))
