"""Events put on the bus reach the correlator through the template's own rules, with Lambda's retries
and on-failure destination around it."""

from __future__ import annotations

import json
import uuid

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.runtime import LocalRuntime


def test_events_put_on_the_bus_complete_an_order(runtime: LocalRuntime, events: EventFactory) -> None:
    order_id = f"BUS-{uuid.uuid4().hex[:8]}"
    invocations = runtime.publish(events.lifecycle(order_id))
    assert invocations == 6
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}


def test_rules_are_the_templates(runtime: LocalRuntime, order_model: Choreography) -> None:
    client = runtime.session_client("events")
    # The template's rules, on the monitor's bus and (the executions' ends) on the default bus, and not the
    # archive's own rule, which EventBridge manages.
    rules = [
        r
        for bus in (runtime.platform.bus_name, "default")
        for r in client.list_rules(EventBusName=bus)["Rules"]
        if not r.get("ManagedBy")
    ]
    # a rule per source, the stuck notices', the executions' ends'
    assert len(rules) == len(list(runtime.stack.of_type("AWS::Events::Rule"))) == len(order_model.sources) + 2
    for rule in rules:
        ((_, properties),) = [(i, p) for i, p in runtime.stack.of_type("AWS::Events::Rule") if i == rule["Name"]]
        assert json.loads(rule["EventPattern"]) == properties["EventPattern"]


def test_an_event_from_the_wrong_source_matches_no_rule(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography
) -> None:
    publisher, other = (
        order_model.events[order_model.milestones[-1].success[0]],
        order_model.events[order_model.start_event],
    )
    event = events.event(publisher.name, f"BUS-{uuid.uuid4().hex[:8]}")
    event["source"] = other.source  # a known event name from a service that does not publish it
    assert publisher.source != other.source
    assert runtime.publish([event]) == 0


def test_a_failing_invocation_is_retried_then_dead_lettered_with_its_error(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography
) -> None:
    dead_letters = next(name for name in runtime.names if name.startswith("CorrelatorDeadLetters"))
    runtime.queue_messages(dead_letters)
    order_id = f"BUS-{uuid.uuid4().hex[:8]}"
    runtime.calls.inject(1.0, seed=11)
    try:
        assert runtime.publish([events.event(order_model.start_event, order_id)]) == 3  # the invocation and two retries
    finally:
        runtime.calls.inject(0.0, seed=0)
    (record,) = runtime.queue_messages(dead_letters)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorType"] in {"ClientError", "SimulatedCrash"}
    assert record["requestPayload"]["detail"]["orderId"] == order_id
    # Redriven, the same event converges like any other delivery.
    assert runtime.deliver(record["requestPayload"])["outcome"] in {"started", "start-duplicate"}
    assert table.STARTED_BY in runtime.items(order_id)[table.INSTANCE_SK]
