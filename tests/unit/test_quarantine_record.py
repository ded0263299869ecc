"""The quarantine record always fits the queue's MaximumMessageSize, counted as SQS counts it."""

from __future__ import annotations

import json

import pytest

from lambdas.correlator.classify import Rejection
from lambdas.correlator.dal import quarantine_message
from local.moto_fixes import sqs_message_bytes


@pytest.mark.parametrize("limit", [1_024, 4_096, 262_144])
@pytest.mark.parametrize("filler", ["x", "\u00fc", '"', "\\", "\U0001f600", "\ud800"])
def test_a_record_never_exceeds_the_limit(limit: int, filler: str) -> None:
    for length in (0, limit // 20, limit // 2, limit, 3 * limit):
        event = {"detail": {"amount": filler * length}, "id": "e"}
        rejection = Rejection("detail." + "a" * length, f"{filler * length!r} is not of type 'number'")
        body, attributes = quarantine_message("m", event, rejection, limit)
        assert sqs_message_bytes(body, attributes) <= limit, (filler, length)
        record = json.loads(body)
        assert record["model"] == "m"
        assert record["field"].startswith("detail.")
        assert record["reason"]
        if "truncated" in record:
            assert json.dumps(event).startswith(record["event"])
        else:
            assert record["event"] == event


def test_an_event_that_fits_is_kept_whole_with_a_readable_reason() -> None:
    event = {"detail": {"amount": "9" * 10_000}}
    body, attributes = quarantine_message("m", event, Rejection("detail.amount", "9" * 10_000), 262_144)
    record = json.loads(body)
    assert record["event"] == event
    assert record["reason"].endswith("(10000 characters)")
    assert len(attributes["reason"]["StringValue"]) < 1_100
