"""The correlator's AWS calls, at most two per event: one conditional-free atomic DynamoDB update per
event, then one Step Functions call when a token waits, or else one more update that leaves the event's
time for the latency metric; one SQS message per quarantined event. While several model versions ship, an
event that they read differently costs one read more: its instance's version. A pair found out of the
modelled order (a choreography's bug, not the common path) costs one update more: the instance's mark.

Errors that mean "retry later" (throttling, 5xx, anything unexpected) are left to propagate: the
handler raises, Lambda retries the asynchronous invocation, and after the retries the event goes to the
dead-letter destination with the error. Only the answers that are expected outcomes are translated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdas.choreography import table
from lambdas.conformance.marks import DeviationMarks, Pair
from lambdas.correlator.classify import ChoreographyEvent, Rejection
from lambdas.correlator.logic import TokenClosed

# Step Functions' answers for a token that no longer waits (moto answers InvalidToken for all of them).
CLOSED_TOKEN_ERRORS = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
SQS_DEFAULT_MESSAGE_BYTES = 262_144  # a queue's MaximumMessageSize unless it is set
# A quarantine record names the problem in a line a person reads; the event itself is what is kept whole.
FIELD_CHARACTERS = 200
REASON_CHARACTERS = 2_000
ATTRIBUTE_CHARACTERS = 1_000
NOT_IN_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class DynamoStore:
    def __init__(self, client: Any, table_name: str, model_name: str) -> None:
        self.client = client
        self.table_name = table_name
        self.model_name = model_name
        self.marks = DeviationMarks(client, table_name, model_name)

    def mark_out_of_order(self, instance_id: str, early_by: Mapping[Pair, float], marked_at: datetime) -> set[Pair]:
        return self.marks.mark(instance_id, early_by, marked_at, started_only=True)

    def instance_version(self, instance_id: str) -> str | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key=_key(instance_id, table.INSTANCE_SK),
            ProjectionExpression=f"{table.STARTED_BY}.{table.MODEL_VERSION}",
            ConsistentRead=True,  # a start recorded a moment ago decides the version
        )
        started_by = table.plain(response.get("Item")).get(table.STARTED_BY) or {}
        version = started_by.get(table.MODEL_VERSION)
        return str(version) if version else None

    def record_start(
        self, event: ChoreographyEvent, version: str, execution_arn: str, expires_at: int
    ) -> Mapping[str, Any]:
        response = self.client.update_item(
            TableName=self.table_name,
            Key=_key(event.instance_id, table.INSTANCE_SK),
            # if_not_exists: the state machine may already have marked the instance COMPLETED or FAILED.
            UpdateExpression=(
                f"SET {table.STARTED_BY} = if_not_exists({table.STARTED_BY}, :start), "
                f"#status = if_not_exists(#status, :running), "
                f"{table.STATUS_UPDATED_AT} = if_not_exists({table.STATUS_UPDATED_AT}, :time), "
                f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires) "
                f"ADD {table.EVENT_IDS} :ids, {table.RECEIVED} :one"
            ),
            ExpressionAttributeNames={"#status": table.STATUS},
            ExpressionAttributeValues={
                ":start": {
                    "M": {
                        table.EVENT_ID: {"S": event.event_id},
                        table.EVENT_TYPE: {"S": event.event_type},
                        table.EVENT_TIME: {"S": event.event_time.isoformat()},
                        table.EXECUTION_ARN: {"S": execution_arn},
                        table.MODEL: {"S": self.model_name},
                        table.MODEL_VERSION: {"S": version},
                    }
                },
                ":running": {"S": table.RUNNING},
                ":time": {"S": event.event_time.isoformat()},
                ":expires": {"N": str(expires_at)},
                ":ids": {"SS": [event.event_id]},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_OLD",
        )
        return table.plain(response.get("Attributes"))

    def record_milestone_event(
        self, event: ChoreographyEvent, arrived_at: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        assert event.milestone is not None
        assert event.outcome is not None
        response = self.client.update_item(
            TableName=self.table_name,
            Key=_key(event.instance_id, event.milestone.name),
            # REMOVE: a milestone's event, even a late one, takes it off the STUCK list in the same write.
            UpdateExpression=(
                f"SET {table.SETTLED_BY} = if_not_exists({table.SETTLED_BY}, :event), "
                f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires) "
                f"ADD {table.EVENT_IDS} :ids, {table.RECEIVED} :one "
                f"REMOVE #status, {table.STATUS_UPDATED_AT}"
            ),
            ExpressionAttributeNames={"#status": table.STATUS},
            ExpressionAttributeValues={
                ":event": {
                    "M": {
                        table.OUTCOME: {"S": event.outcome},
                        table.EVENT_TYPE: {"S": event.event_type},
                        table.EVENT_ID: {"S": event.event_id},
                        table.EVENT_TIME: {"S": event.event_time.isoformat()},
                        table.ARRIVED_AT: {"S": arrived_at.isoformat()},
                    }
                },
                ":expires": {"N": str(expires_at)},
                ":ids": {"SS": [event.event_id]},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_OLD",
        )
        return table.plain(response.get("Attributes"))

    def record_next_event_time(
        self, instance_id: str, sort_key: str, event_time: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        # The instance's record is made by its start alone (an order without one stays NOT_STARTED, with no
        # record): there the time is left only once the start is recorded.
        started_only = {"ConditionExpression": f"attribute_exists({table.STARTED_BY})"}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(instance_id, sort_key),
                # if_not_exists: a repeated delivery of a conflicting event leaves the first time in place.
                UpdateExpression=(
                    f"SET {table.NEXT_EVENT_TIME} = if_not_exists({table.NEXT_EVENT_TIME}, :time), "
                    f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires)"
                ),
                ExpressionAttributeValues={":time": {"S": event_time.isoformat()}, ":expires": {"N": str(expires_at)}},
                ReturnValues="ALL_OLD",
                **(started_only if sort_key == table.INSTANCE_SK else {}),
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return {}  # no start yet: the pair goes unmeasured
            raise
        return table.plain(response.get("Attributes"))


def _key(instance_id: str, sort_key: str) -> dict[str, Any]:
    return {table.PARTITION_KEY: {"S": instance_id}, table.SORT_KEY: {"S": sort_key}}


class StepFunctionsWorkflow:
    def __init__(self, client: Any, state_machine_arns: Mapping[str, str]) -> None:
        self.client = client
        self.state_machine_arns = state_machine_arns  # model version -> its machine

    def ships(self, version: str) -> bool:
        return version in self.state_machine_arns

    def execution_arn(self, version: str, name: str) -> str:
        return execution_arn(self.state_machine_arns[version], name)

    def start(self, version: str, name: str, payload: str) -> str:
        machine = self.state_machine_arns[version]
        try:
            response = self.client.start_execution(stateMachineArn=machine, name=name, input=payload)
        except ClientError as error:
            # The name is taken: by this instance's execution, running or ended. Either way it exists.
            if _code(error) == "ExecutionAlreadyExists":
                return execution_arn(machine, name)
            raise
        return str(response["executionArn"])

    def succeed(self, token: str, output: str) -> None:
        self._answer(self.client.send_task_success, taskToken=token, output=output)

    def fail(self, token: str, error: str, cause: str) -> None:
        self._answer(self.client.send_task_failure, taskToken=token, error=error, cause=cause)

    @staticmethod
    def _answer(call: Any, **arguments: str) -> None:
        try:
            call(**arguments)
        except ClientError as error:
            if _code(error) in CLOSED_TOKEN_ERRORS:
                raise TokenClosed(_code(error)) from error
            raise


def execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


class SqsQuarantine:
    def __init__(self, client: Any, queue_url: str, model_name: str, max_message_bytes: int) -> None:
        self.client = client
        self.queue_url = queue_url
        self.model_name = model_name
        self.max_message_bytes = max_message_bytes

    def hold(self, raw_event: Any, rejection: Rejection) -> None:
        body, attributes = quarantine_message(self.model_name, raw_event, rejection, self.max_message_bytes)
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)


def quarantine_message(
    model_name: str, raw_event: Any, rejection: Rejection, max_bytes: int
) -> tuple[str, dict[str, Any]]:
    """The quarantine record and its attributes, within `max_bytes` as SQS counts them (the body plus each
    attribute's name, type and value): a record SQS refused would fail every retry instead of being kept.
    Field and reason are cut to a readable length (an invalid value may be quoted whole in the reason);
    the event is kept whole when it fits, else as much of its JSON text as fits, marked truncated."""
    reason = _sqs_text(_cut(str(rejection), min(ATTRIBUTE_CHARACTERS, max_bytes // 16)))
    attributes = {"reason": {"DataType": "String", "StringValue": reason}}
    room = max_bytes - sum(len(name.encode()) + _attribute_bytes(value) for name, value in attributes.items())
    body: dict[str, Any] = {
        "model": model_name,
        "field": _cut_json(rejection.field, min(FIELD_CHARACTERS, max_bytes // 16)),
        "reason": _cut_json(rejection.reason, min(REASON_CHARACTERS, max_bytes // 8)),
        "event": raw_event,
    }
    text = json.dumps(body, default=repr)  # ASCII only: every character is one SQS accepts
    if len(text) <= room:
        return text, attributes
    event_text = json.dumps(raw_event, default=repr)
    body.update(event="", truncated=True, eventCharacters=len(event_text))
    body["event"] = _cut_json(event_text, room - len(json.dumps(body)) + 2, mark=False)
    return json.dumps(body), attributes


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _cut_json(text: str, budget: int, *, mark: bool = True) -> str:
    """The longest start of `text` whose JSON string (quotes and escapes included) takes at most `budget`
    characters, with its full length noted when `mark`: escapes make the JSON up to 12 times longer."""
    if len(json.dumps(text)) <= budget:
        return text
    note = f"... ({len(text)} characters)" if mark else ""
    low, high = 0, min(len(text), budget)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle] + note)) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low] + note


def _sqs_text(text: str) -> str:
    """SQS takes only the characters XML 1.0 allows (no U+FFFE, U+FFFF or lone surrogates)."""
    return NOT_IN_SQS.sub("\ufffd", text)


def _attribute_bytes(attribute: Mapping[str, str]) -> int:
    return len(attribute["DataType"].encode()) + len(attribute["StringValue"].encode())


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
