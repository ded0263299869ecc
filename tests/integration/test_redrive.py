"""Redrive end to end in the local runtime: what the dead-letter queues and the quarantine hold goes back on
the bus through the code `python -m cli redrive` runs, and converges like any other delivery."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from cli.__main__ import main
from cli.redrive import DeadLetterQueue, redrive
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.runtime import LocalRuntime
from tests.integration.conftest import stack_with_outputs

# The command's queue names, and the logical ids (prefixes) of those queues in the template.
QUEUE_IDS = {"rule": "RuleDeadLetters", "correlator": "CorrelatorDeadLetters", "quarantine": "Quarantine"}


def _logical_id(runtime: LocalRuntime, name: str) -> str:
    queues = [logical_id for logical_id, _ in runtime.stack.of_type("AWS::SQS::Queue")]
    return next(logical_id for logical_id in queues if logical_id.startswith(QUEUE_IDS[name]))


@pytest.fixture
def queues(runtime: LocalRuntime) -> Iterator[dict[str, str]]:
    """The three queues' URLs by the command's names, empty: the tests of this worker share them."""
    for name in QUEUE_IDS:
        runtime.queue_messages(_logical_id(runtime, name))
    yield {name: runtime.names[_logical_id(runtime, name)] for name in QUEUE_IDS}
    for name in QUEUE_IDS:
        runtime.queue_messages(_logical_id(runtime, name))


def _redrive(capsys: pytest.CaptureFixture[str], runtime: LocalRuntime, *args: str) -> tuple[int, dict[str, Any]]:
    """`python -m cli --json redrive --bus BUS ARGS...`, in this process (where moto answers boto3)."""
    code = main(["--json", "redrive", "--bus", runtime.platform.bus_name, *args])
    return code, json.loads(capsys.readouterr().out)


def _send(runtime: LocalRuntime, url: str, bodies: list[Any], attributes: dict[str, Any] | None = None) -> None:
    sqs = runtime.session_client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageAttributes=attributes or {})


def _depth(runtime: LocalRuntime, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = runtime.session_client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def _assert_settled_once(runtime: LocalRuntime, model: Choreography, order_id: str, by: set[str]) -> None:
    """The execution entered each milestone's state once, and each milestone is settled by its success
    event, one of the ids in `by`."""
    entered = Counter(runtime.states_entered(order_id))
    items = runtime.items(order_id)
    for milestone in model.milestones:
        assert entered[milestone.name] == 1, entered
        settled = items[milestone.name][table.SETTLED_BY]
        assert settled[table.EVENT_TYPE] == milestone.success[0]
        assert settled[table.EVENT_ID] in by


def _assert_times_kept(runtime: LocalRuntime, model: Choreography, order_id: str, originals: list[Any]) -> None:
    """Each recorded event carries its original time (the start's time derives its execution's input)."""
    times = {event["detail-type"]: _instant(event["time"]) for event in originals}
    items = runtime.items(order_id)
    assert _instant(items[table.INSTANCE_SK][table.STARTED_BY][table.EVENT_TIME]) == times[model.start_event]
    for milestone in model.milestones:
        assert _instant(items[milestone.name][table.SETTLED_BY][table.EVENT_TIME]) == times[milestone.success[0]]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _dead_letter_everything(runtime: LocalRuntime, events: list[dict[str, Any]]) -> None:
    # Every AWS call of the correlator fails before taking effect: each event is retried, then dead-lettered.
    runtime.calls.inject(1.0, seed=5)
    try:
        runtime.publish(events)
    finally:
        runtime.calls.inject(0.0, seed=0)


def test_failed_events_are_redriven_from_the_correlators_dead_letters_and_converge(
    runtime: LocalRuntime,
    events: EventFactory,
    order_model: Choreography,
    order_id: str,
    queues: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lifecycle = events.lifecycle(order_id)
    url = queues["correlator"]
    _dead_letter_everything(runtime, lifecycle)
    records = runtime.queue_messages(_logical_id(runtime, "correlator"))  # kept, to send a second copy later
    assert sorted(r["requestPayload"]["detail-type"] for r in records) == sorted(e["detail-type"] for e in lifecycle)
    assert {r["requestContext"]["condition"] for r in records} == {"RetriesExhausted"}
    assert runtime.items(order_id) == {}  # nothing took effect
    _send(runtime, url, records)

    code, answer = _redrive(capsys, runtime, "--queue-url", url, "--dry-run")
    (report,) = answer["queues"]
    assert (code, answer["dryRun"], report["read"], report["redriven"]) == (0, True, len(lifecycle), len(lifecycle))
    assert sorted(e["detailType"] for e in report["events"]) == sorted(e["detail-type"] for e in lifecycle)
    assert not any("eventId" in e for e in report["events"])  # nothing was put
    assert _depth(runtime, url) == (len(lifecycle), 0)  # every message still there, visible at once
    assert runtime.platform.pump() == 0
    assert runtime.items(order_id) == {}

    code, answer = _redrive(capsys, runtime, "--queue-url", url)
    (report,) = answer["queues"]
    assert (code, report["read"], report["redriven"], report["skipped"], report["failed"]) == (0, 6, 6, [], [])
    new_ids = {e["eventId"] for e in report["events"]}
    assert len(new_ids) == len(lifecycle)
    assert not new_ids & {r["requestPayload"]["id"] for r in records}  # EventBridge gave them new ids
    assert _depth(runtime, url) == (0, 0)
    assert runtime.platform.pump() == len(lifecycle)  # each one delivery, none failing now
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    _assert_settled_once(runtime, order_model, order_id, by=new_ids)
    _assert_times_kept(runtime, order_model, order_id, [r["requestPayload"] for r in records])

    # A second copy of the same events, redriven, is recognised for what it is and moves nothing.
    items, entered = runtime.items(order_id), runtime.states_entered(order_id)
    outcomes_before = Counter(runtime.correlator_outcomes())
    _send(runtime, url, records)
    code, answer = _redrive(capsys, runtime, "--queue-url", url)
    assert (code, answer["queues"][0]["redriven"]) == (0, len(records))
    assert runtime.platform.pump() == len(records)
    outcomes = Counter(runtime.correlator_outcomes())
    outcomes.subtract(outcomes_before)
    assert +outcomes == Counter({"start-duplicate": 1, "duplicate": len(order_model.milestones)})
    assert runtime.states_entered(order_id) == entered
    after = runtime.items(order_id)
    assert after[table.INSTANCE_SK][table.STARTED_BY] == items[table.INSTANCE_SK][table.STARTED_BY]
    for milestone in order_model.milestones:
        assert after[milestone.name][table.SETTLED_BY] == items[milestone.name][table.SETTLED_BY]
    assert runtime.execution_status(order_id) == "SUCCEEDED"


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+WaitConditionHandle")
def test_the_rules_dead_letters_are_redriven_through_the_stacks_outputs(
    runtime: LocalRuntime,
    events: EventFactory,
    order_model: Choreography,
    order_id: str,
    queues: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lifecycle = events.lifecycle(order_id)
    _send(runtime, queues["rule"], lifecycle, _rule_dead_letter_attributes(runtime, order_model))
    _send(runtime, queues["correlator"], [{"not": "chosen"}])  # --queue rule leaves the other queues alone
    stack = _stack_with_the_runtimes_outputs(runtime, queues, order_id)

    code, answer = _cli(capsys, "--stack", stack, "--json", "redrive", "--queue", "rule", "--queue", "rule")
    assert code == 0
    assert answer["bus"] == runtime.platform.bus_name
    (report,) = answer["queues"]
    assert (report["queue"], report["url"], report["read"], report["redriven"]) == (
        "rule",
        queues["rule"],
        len(lifecycle),
        len(lifecycle),
    )
    assert _depth(runtime, queues["rule"]) == (0, 0)
    assert _depth(runtime, queues["correlator"]) == (1, 0)
    assert runtime.platform.pump() == len(lifecycle)
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    _assert_settled_once(runtime, order_model, order_id, by={e["eventId"] for e in report["events"]})


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(list(args))
    return code, json.loads(capsys.readouterr().out)


def _rule_dead_letter_attributes(runtime: LocalRuntime, model: Choreography) -> dict[str, Any]:
    """The attributes EventBridge gives a message it dead-letters for a rule's target."""
    rules = runtime.session_client("events").list_rules(EventBusName=runtime.platform.bus_name)["Rules"]
    start_source = model.events[model.start_event].source
    rule = next(rule for rule in rules if start_source in json.loads(rule["EventPattern"]).get("source", []))
    values = {
        "RULE_ARN": rule["Arn"],
        "TARGET_ARN": runtime.arns[runtime.correlator.logical_id],
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Lambda was unable to process the request",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "185",
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def _stack_with_the_runtimes_outputs(runtime: LocalRuntime, queues: dict[str, str], suffix: str) -> str:
    """A CloudFormation stack on moto whose outputs are the deployed monitor's, naming the runtime's bus
    and queues (the runtime builds its resources without CloudFormation)."""
    outputs = {
        "BusName": runtime.platform.bus_name,
        "RuleDeadLettersUrl": queues["rule"],
        "CorrelatorDeadLettersUrl": queues["correlator"],
        "QuarantineQueueUrl": queues["quarantine"],
    }
    return stack_with_outputs(runtime, f"{runtime.stack.name}-{suffix}", outputs)


def test_quarantined_events_go_back_and_those_still_invalid_are_quarantined_again(
    runtime: LocalRuntime,
    events: EventFactory,
    order_model: Choreography,
    order_id: str,
    queues: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    invalid = _without_a_required_field(events, order_model, order_id)
    runtime.publish([invalid])  # through the rules, as a service's malformed event arrives
    runtime.deliver(order_model.start_event)  # a bare string: a value that cannot be an event
    unrouted = events.event(order_model.start_event, order_id)
    unrouted["detail-type"] = f"{order_model.start_event}Retracted"  # a type no rule routes
    assert unrouted["detail-type"] not in order_model.events
    runtime.deliver(unrouted)
    quarantine_id = _logical_id(runtime, "quarantine")
    held = runtime.queue_messages(quarantine_id)
    assert len(held) == 3
    (first,) = [record for record in held if _type_of(record) == invalid["detail-type"]]
    kept = [record for record in held if record is not first]
    _send(runtime, queues["quarantine"], held)

    code = main(["redrive", "--bus", runtime.platform.bus_name, "--queue-url", queues["quarantine"], "--dry-run"])
    view = capsys.readouterr().out
    assert code == 0
    assert "dry run" in view.splitlines()[0]
    assert f"would redrive 1 x {invalid['detail-type']}" in " ".join(view.split())
    assert _depth(runtime, queues["quarantine"]) == (3, 0)

    code, answer = _redrive(capsys, runtime, "--queue-url", queues["quarantine"])
    (report,) = answer["queues"]
    assert (code, report["read"], report["redriven"], report["failed"]) == (0, 3, 1, [])
    assert report["events"][0]["detailType"] == invalid["detail-type"]
    reasons = sorted(skipped["reason"] for skipped in report["skipped"])
    assert len(reasons) == 2
    assert any("is a str, not an EventBridge event" in reason for reason in reasons)
    assert any("no enabled rule" in reason and unrouted["detail-type"] in reason for reason in reasons)

    assert runtime.platform.pump() == 1
    assert runtime.items(order_id) == {}  # still invalid: no order started
    now = runtime.queue_messages(quarantine_id)
    assert sorted(map(json.dumps, kept)) == sorted(map(json.dumps, [r for r in now if not _is_redriven(r, first)]))
    (again,) = [record for record in now if _is_redriven(record, first)]
    assert (again["field"], again["reason"]) == (first["field"], first["reason"])
    assert again["event"]["detail"] == first["event"]["detail"]


def _without_a_required_field(events: EventFactory, model: Choreography, order_id: str) -> dict[str, Any]:
    """A start event whose detail lacks a field its schema requires (not the correlation key)."""
    event = events.event(model.start_event, order_id)
    required = model.events[model.start_event].schema.get("required", [])
    name = next(name for name in required if name != model.correlation_path[-1])
    del event["detail"][name]
    return event


def _type_of(record: dict[str, Any]) -> Any:
    return record["event"].get("detail-type") if isinstance(record["event"], dict) else None


def _is_redriven(record: dict[str, Any], original: dict[str, Any]) -> bool:
    """The original's event, back from the bus: same content, a new id."""
    event = record["event"]
    return (
        isinstance(event, dict)
        and event.get("detail") == original["event"]["detail"]
        and (event.get("id") != original["event"]["id"])
    )


class RefusingEvents:
    """EventBridge answering ThrottlingException for the entries of one event type, as PutEvents may under
    load (the request succeeds, those entries fail); the other entries really go on the bus."""

    def __init__(self, events: Any, refused_type: str) -> None:
        self.events = events
        self.refused_type = refused_type

    def list_rules(self, **request: Any) -> Any:
        return self.events.list_rules(**request)

    def put_events(self, **request: Any) -> dict[str, Any]:
        entries = request["Entries"]
        accepted = [entry for entry in entries if entry["DetailType"] != self.refused_type]
        answers = iter(self.events.put_events(Entries=accepted)["Entries"] if accepted else [])
        refusal = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        results = [refusal if entry["DetailType"] == self.refused_type else next(answers) for entry in entries]
        return {"FailedEntryCount": len(entries) - len(accepted), "Entries": results}


def test_a_refused_entry_stays_in_its_queue_and_a_later_redrive_completes_the_order(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str, queues: dict[str, str]
) -> None:
    lifecycle = events.lifecycle(order_id)
    _send(runtime, queues["rule"], lifecycle)
    sqs, bus = runtime.session_client("sqs"), runtime.platform.bus_name
    queue = DeadLetterQueue("rule", queues["rule"])
    refusing = RefusingEvents(runtime.session_client("events"), order_model.start_event)

    (first_pass,) = redrive(sqs, refusing, bus, [queue])
    assert (first_pass.read, len(first_pass.redriven), first_pass.skipped) == (len(lifecycle), len(lifecycle) - 1, [])
    (failed,) = first_pass.failed
    assert failed.reason.startswith("ThrottlingException")
    (message,) = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert message["MessageId"] == failed.message_id
    assert json.loads(message["Body"]) == lifecycle[0]  # the refused event, kept whole
    runtime.platform.pump()
    assert table.INSTANCE_SK not in runtime.items(order_id)  # the milestones wait for a start that is not there

    (report,) = redrive(sqs, runtime.session_client("events"), bus, [queue])
    assert (len(report.redriven), report.failed) == (1, [])
    assert _depth(runtime, queue.url) == (0, 0)
    runtime.platform.pump()
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    redriven = {event.event_id for event in first_pass.redriven + report.redriven if event.event_id}
    _assert_settled_once(runtime, order_model, order_id, by=redriven)
