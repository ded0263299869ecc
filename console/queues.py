"""The monitor's three queues as an operator sees them: how many messages each holds, and a sample of
them with why each is there.

A sample is read with a visibility timeout of 0, so that the messages stay visible to a redrive, which
is the one reader that deletes them. Each receive still counts in a message's ApproximateReceiveCount.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SAMPLE = 10  # the most a ReceiveMessage returns


@dataclass(frozen=True)
class QueueDepth:
    name: str  # rule, correlator, quarantine
    visible: int
    in_flight: int  # being redriven, or received by someone else


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    sent_at: str
    receives: int
    event: str  # detail-type and id of the event it holds, as far as it can be read
    reason: str  # why it is here


def depth(sqs: Any, name: str, url: str) -> QueueDepth:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return QueueDepth(
        name, int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])
    )


def peek(sqs: Any, url: str) -> list[QueuedMessage]:
    answer = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=SAMPLE,
        VisibilityTimeout=0,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        MessageAttributeNames=["All"],
    )
    return [_described(message) for message in answer.get("Messages", [])]


def _described(message: Mapping[str, Any]) -> QueuedMessage:
    attributes = message.get("Attributes", {})
    sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", 0)) / 1000, UTC)
    event, reason = why_queued(message.get("Body", ""), message.get("MessageAttributes", {}))
    return QueuedMessage(
        message_id=message["MessageId"],
        sent_at=sent.isoformat(timespec="seconds"),
        receives=int(attributes.get("ApproximateReceiveCount", 0)),
        event=event,
        reason=reason,
    )


def why_queued(body: str, attributes: Mapping[str, Any]) -> tuple[str, str]:
    """The event a message holds and why it is queued, from whichever of the three records it is: the
    correlator's quarantine record, Lambda's record of a failed invocation, or EventBridge's dead letter
    (the event itself, with the error in message attributes)."""
    try:
        record = json.loads(body)
    except ValueError:
        return "", "the message body is not JSON"
    if not isinstance(record, dict):
        return "", "the message body is not a JSON object"
    if {"field", "reason", "event"} <= record.keys():
        return _event_named(record["event"]), f"quarantined: {record['field']}: {record['reason']}"
    if "requestPayload" in record and "requestContext" in record:
        failure = record.get("responsePayload") or {}
        condition = record["requestContext"].get("condition", "")
        error = f"{failure.get('errorType', '')}: {failure.get('errorMessage', '')}".strip(": ")
        return _event_named(record["requestPayload"]), f"correlator failed ({condition}): {error or 'no error given'}"
    values = {name: value.get("StringValue", "") for name, value in attributes.items()}
    error = ": ".join(part for part in (values.get("ERROR_CODE"), values.get("ERROR_MESSAGE")) if part)
    return _event_named(record), f"not delivered to the correlator: {error or 'no error given'}"


def _event_named(event: Any) -> str:
    if not isinstance(event, Mapping):
        return "(not an event)"
    return " ".join(str(part) for part in (event.get("detail-type"), event.get("id")) if part) or "(unnamed event)"
