"""Validation and classification of raw events: pure, no AWS."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.choreography.model import FAILURE, SUCCESS, Choreography
from lambdas.correlator.classify import ChoreographyEvent, EventClassifier, Rejection, execution_name_problem
from local.events import EventFactory


@pytest.fixture(scope="module")
def classifier(order_model: Choreography) -> EventClassifier:
    return EventClassifier(order_model)


@pytest.fixture(scope="module")
def factory(order_model: Choreography) -> EventFactory:
    return EventFactory(order_model)


def test_a_valid_milestone_event_is_classified(classifier: EventClassifier, factory: EventFactory) -> None:
    result = classifier.classify(factory.event("OutOfStock", "ORD-1"))
    assert isinstance(result, ChoreographyEvent)
    assert result.instance_id == "ORD-1"
    assert result.milestone is not None
    assert result.milestone.name == "Inventory"
    assert result.outcome == FAILURE


def test_the_start_event_has_no_milestone(classifier: EventClassifier, factory: EventFactory) -> None:
    result = classifier.classify(factory.event("OrderPlaced", "ORD-1"))
    assert isinstance(result, ChoreographyEvent)
    assert result.milestone is None


def test_every_example_event_of_both_models_is_valid(order_model: Choreography, return_model: Choreography) -> None:
    for model in (order_model, return_model):
        classifier, factory = EventClassifier(model), EventFactory(model)
        for name, role in model.roles.items():
            result = classifier.classify(factory.event(name, "ID-1"))
            assert isinstance(result, ChoreographyEvent), (name, result)
            assert result.outcome == role.outcome
            if role.milestone:
                assert result.outcome in (SUCCESS, FAILURE)


def _mutated(factory: EventFactory, change: Any) -> dict[str, Any]:
    event = factory.event("PaymentProcessed", "ORD-7")
    change(event)
    return event


REJECTIONS = {
    "not an object": (lambda e: None, "(event)"),
    "unknown detail-type": (lambda e: e.update({"detail-type": "PaymentRefunded"}), "detail-type"),
    "missing detail-type": (lambda e: e.pop("detail-type"), "detail-type"),
    "wrong source": (lambda e: e.update({"source": "com.example.orders"}), "source"),
    "missing id": (lambda e: e.pop("id"), "id"),
    "bad time": (lambda e: e.update({"time": "yesterday"}), "time"),
    "naive time": (lambda e: e.update({"time": "2026-11-27T10:00:00"}), "time"),
    "detail not an object": (lambda e: e.update({"detail": ["x"]}), "detail"),
    "missing correlation id": (lambda e: e["detail"].pop("orderId"), "detail.orderId"),
    "numeric correlation id": (lambda e: e["detail"].update({"orderId": 17}), "detail.orderId"),
    "id with a space": (lambda e: e["detail"].update({"orderId": "ORD 7"}), "detail.orderId"),
    "id too long": (lambda e: e["detail"].update({"orderId": "A" * 81}), "detail.orderId"),
    "id with a colon": (lambda e: e["detail"].update({"orderId": "ORD:7"}), "detail.orderId"),
    "schema: wrong type": (lambda e: e["detail"].update({"amount": "ten"}), "detail.amount"),
    "schema: missing field": (lambda e: e["detail"].pop("paymentId"), "detail"),
    "schema: below minimum": (lambda e: e["detail"].update({"amount": -1}), "detail.amount"),
}


@pytest.mark.parametrize("kind", sorted(REJECTIONS))
def test_a_bad_event_is_rejected_naming_the_field(
    classifier: EventClassifier, factory: EventFactory, kind: str
) -> None:
    change, field = REJECTIONS[kind]
    raw = None if kind == "not an object" else _mutated(factory, change)
    result = classifier.classify(raw)
    assert isinstance(result, Rejection), kind
    assert result.field == field
    assert result.reason


def test_schema_rejection_says_what_is_wrong(classifier: EventClassifier, factory: EventFactory) -> None:
    result = classifier.classify(_mutated(factory, lambda e: e["detail"].update({"amount": "ten"})))
    assert str(result) == "detail.amount: 'ten' is not of type 'number' (schema of PaymentProcessed)"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        ("a" * 81, "81 characters"),
        ("a/b", "'/'"),
        ("a\tb", "'\\t'"),
        ("é-ok", None),
        ("ORD-1_2.3", None),
    ],
)
def test_execution_name_rules(name: str, problem: str | None) -> None:
    found = execution_name_problem(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=2000, deadline=None)
@given(raw=json_values)
def test_arbitrary_json_never_raises(classifier: EventClassifier, raw: Any) -> None:
    result = classifier.classify(raw)
    assert isinstance(result, Rejection)
    assert result.field
    assert result.reason


def test_a_model_that_names_a_detail_time_reads_it_not_the_envelopes(return_model: Choreography) -> None:
    classifier, factory = EventClassifier(return_model), EventFactory(return_model)
    event = factory.event("ReturnApproved", "RET-1")
    event["detail"]["occurredAt"] = "2026-03-01T09:30:00+01:00"  # the service acted then
    event["time"] = "2026-03-01T12:00:00Z"  # and put the event on the bus later
    result = classifier.classify(event)
    assert isinstance(result, ChoreographyEvent)
    assert result.event_time.isoformat() == "2026-03-01T09:30:00+01:00"


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "is missing: it is when the service acted"), ("soon", "is not an ISO 8601 time")],
)
def test_a_detail_time_that_is_missing_or_bad_is_refused_naming_it(
    return_model: Choreography, value: str | None, message: str
) -> None:
    event = EventFactory(return_model).event("ReturnApproved", "RET-1")
    if value is None:
        del event["detail"]["occurredAt"]
    else:
        event["detail"]["occurredAt"] = value
    result = EventClassifier(return_model).classify(event)
    assert isinstance(result, Rejection)
    assert (result.field, message in result.reason) == ("detail.occurredAt", True)
