"""Malformed events through the real handler: never an exception, always quarantined with a reason."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.moto_fixes import sqs_message_bytes
from local.runtime import LocalRuntime

Mutation = Callable[[dict[str, Any], random.Random, Choreography], tuple[Any, str]]
NAME_BREAKERS = [
    " ",
    "\t",
    "\n",
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    "?",
    "*",
    '"',
    "#",
    "%",
    "\\",
    "^",
    "|",
    "~",
    "`",
    "$",
    "&",
    ",",
    ";",
    ":",
    "/",
    "\x00",
    "\x7f",
]


def _junk(rng: random.Random) -> Any:
    return rng.choice([None, 0, -1.5, True, "", "x" * rng.randint(1, 300), [], ["a", 1], {"k": "v"}])


def _drop_envelope_field(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    name = rng.choice(["detail-type", "source", "id", "time", "detail"])
    del event[name]
    return event, name


def _junk_envelope_field(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    name = rng.choice(["detail-type", "source", "id", "time", "detail"])
    value = _junk(rng)
    while (name == "detail" and isinstance(value, dict)) or (name == "id" and isinstance(value, str) and value):
        value = _junk(rng)
    event[name] = value
    return event, name


def _unknown_type(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    event["detail-type"] = rng.choice(["OrderCancelled", "paymentprocessed", "Payment Processed", "X" * 70])
    return event, "detail-type"


def _bad_correlation_id(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    choice = rng.randrange(4)
    if choice == 0:
        del event["detail"]["orderId"]
    elif choice == 1:
        event["detail"]["orderId"] = rng.choice([17, 1.5, None, ["A"], {"id": "A"}, True])
    elif choice == 2:
        event["detail"]["orderId"] = "ORD" + rng.choice(NAME_BREAKERS) + str(rng.randint(0, 99))
    else:
        event["detail"]["orderId"] = rng.choice(["", "A" * rng.randint(81, 200)])
    return event, "detail.orderId"


def _schema_violation(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    """Drop a required field, or give a field a value of the wrong type."""
    detail, schema = event["detail"], model.events[event["detail-type"]].schema
    required = [name for name in schema.get("required", []) if name != "orderId"]
    if required and rng.random() < 0.5:
        del detail[rng.choice(required)]
        return event, "detail"
    name = rng.choice([name for name in detail if name != "orderId"])
    detail[name] = {"string": 10**6, "number": "text", "integer": 1.5, "array": {"not": "a list"}, "object": ["x"]}[
        schema["properties"][name].get("type", "object")
    ]
    return event, "detail"


def _not_an_event(event: dict[str, Any], rng: random.Random, model: Choreography) -> tuple[Any, str]:
    return rng.choice([None, "OrderPlaced", 42, [event], ""]), "(event)"


MUTATIONS: list[Mutation] = [
    _drop_envelope_field,
    _junk_envelope_field,
    _unknown_type,
    _bad_correlation_id,
    _schema_violation,
    _not_an_event,
]


def malformed_events(factory: EventFactory, model: Choreography, count: int, seed: int) -> list[tuple[Any, str]]:
    rng = random.Random(seed)
    names = sorted(model.events)
    cases = []
    for number in range(count):
        event = factory.event(rng.choice(names), f"ORD-FUZZ-{number}")
        mutation = MUTATIONS[number % len(MUTATIONS)]
        cases.append(mutation(copy.deepcopy(event), rng, model))
    return cases


def test_a_thousand_malformed_events_are_all_quarantined_with_a_reason(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography
) -> None:
    quarantine = _quarantine_queue(runtime)
    runtime.queue_messages(quarantine)  # start empty
    cases = malformed_events(events, order_model, count=1200, seed=2026)
    fields: Counter[str] = Counter()
    held: list[dict[str, Any]] = []
    for number, (raw, expected_field) in enumerate(cases):
        if number % 100 == 0:  # moto's SQS scans the whole queue on every send: keep it short
            held += runtime.queue_messages(quarantine)
        result = runtime.deliver(raw)  # an exception here fails the test: none may escape
        assert result["outcome"] == "quarantined", (raw, result)
        field = result["reason"].split(":")[0]
        if expected_field == "detail":
            assert field.startswith("detail"), (raw, result)
        elif expected_field in ("detail-type", "source", "id", "time", "detail", "(event)", "detail.orderId"):
            # A broken envelope field is reported at that field, or at an earlier one that is also wrong.
            assert field in ("(event)", "detail-type", "source", "id", "time", "detail", "detail.orderId"), result
        fields[field] += 1
    held += runtime.queue_messages(quarantine)
    assert len(held) == len(cases)
    for message in held:
        assert message["reason"]
        assert message["field"]
        assert message["model"] == order_model.name
        assert "event" in message
    assert len(fields) >= 7, fields
    quarantined = [m for m in runtime.metrics_output if "EventsQuarantined" in m]
    assert len(quarantined) >= len(cases)


def test_a_valid_event_is_not_quarantined(runtime: LocalRuntime, events: EventFactory) -> None:
    assert runtime.deliver(events.event("OrderPackaged", "ORD-FUZZ-VALID"))["outcome"] == "early"


def _quarantine_queue(runtime: LocalRuntime) -> str:
    return next(name for name in runtime.names if name.startswith("Quarantine"))


def test_a_record_quoting_a_huge_invalid_value_still_fits_the_queue(
    runtime: LocalRuntime, events: EventFactory, order_stack: StackTemplate
) -> None:
    """The reason quotes the invalid value and the event holds it too: without bounds the record outgrows
    the queue, SQS refuses it (moto is mended to count as SQS does) and the event would fail its retries."""
    queue = _quarantine_queue(runtime)
    limit = int(order_stack.resources[queue]["Properties"]["MaximumMessageSize"])
    runtime.queue_messages(queue)
    sizes = {"fits whole": 400_000, "cut to fit": limit + 50_000}
    for label, length in sizes.items():
        event = events.event("PaymentProcessed", f"ORD-HUGE-{length}")
        event["detail"]["amount"] = "\u00fc\ufffe" + "9" * length  # a number field holding a long string
        assert runtime.deliver(event)["outcome"] == "quarantined", label
        (message,) = runtime.sqs.receive_message(
            QueueUrl=runtime.names[queue], MessageAttributeNames=["All"], MaxNumberOfMessages=10
        )["Messages"]
        runtime.sqs.delete_message(QueueUrl=runtime.names[queue], ReceiptHandle=message["ReceiptHandle"])
        assert sqs_message_bytes(message["Body"], message["MessageAttributes"]) <= limit, label
        record = json.loads(message["Body"])
        assert record["field"] == "detail.amount"
        assert len(record["reason"]) < 2_100, label  # the value is quoted in part, with its length
        assert "\ufffe" not in message["MessageAttributes"]["reason"]["StringValue"]  # SQS refuses U+FFFE
        if label == "fits whole":
            assert record["event"] == event
            assert "truncated" not in record
        else:
            assert record["truncated"] is True
            assert json.dumps(event).startswith(record["event"][:1000])
            assert record["eventCharacters"] == len(json.dumps(event))


def test_ids_that_step_functions_refuses_are_quarantined_not_retried(
    runtime: LocalRuntime, events: EventFactory
) -> None:
    queue = _quarantine_queue(runtime)
    runtime.queue_messages(queue)
    for order_id in ("ORD-\ufffe", "ORD-\uffff", "ORD-\ud800"):
        result = runtime.deliver(events.event("OrderPlaced", order_id))
        assert result["outcome"] == "quarantined", order_id
        assert result["reason"].startswith("detail.orderId:"), result
    held = runtime.queue_messages(queue)
    assert [message["field"] for message in held] == ["detail.orderId"] * 3
