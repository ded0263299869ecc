"""Turn a choreography model into the Amazon States Language definition of its state machine.

Every state entered is billed, so the happy path enters exactly one state per milestone plus
"Completed". Each milestone state writes its task token to the milestone's item with the AWS SDK
DynamoDB integration and waits (`.waitForTaskToken`); the correlator sends the outcome when the event
arrives. The write is conditional on no event being recorded yet: if the event came first, the write
fails and a Catch routes on without waiting (through one check state when the milestone can fail).

The table name is left as the substitution `${TableName}`: CloudFormation fills it in on deploy, and
the local runtime does the same from the template.
"""

from __future__ import annotations

from typing import Any

from lambdas.choreography import table
from lambdas.choreography.model import SUCCESS, Choreography, Milestone

TABLE_NAME = "${TableName}"
UPDATE_ITEM = "arn:aws:states:::aws-sdk:dynamodb:updateItem"
CONDITION_FAILED = "DynamoDb.ConditionalCheckFailedException"
TIMEOUT = "States.Timeout"
COMPLETED_STATE = "Completed"
FAILED_STATE = "Failed"
FAILURE_ERROR = "MilestoneFailed"

# Transient DynamoDB errors are retried inside the state; a retry is a billed transition, but rare.
TRANSIENT_ERRORS = [
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.InternalServerErrorException",
]
RETRY_TRANSIENT = [
    {
        "ErrorEquals": TRANSIENT_ERRORS,
        "IntervalSeconds": 1,
        "MaxAttempts": 5,
        "BackoffRate": 2.0,
        "JitterStrategy": "FULL",
    }
]


def failed_state(milestone: Milestone) -> str:
    return f"{milestone.name} failed"


def arrived_early_state(milestone: Milestone) -> str:
    return f"{milestone.name} arrived early"


def build_definition(model: Choreography) -> dict[str, Any]:
    states: dict[str, Any] = {}
    names = [milestone.name for milestone in model.milestones]
    for position, milestone in enumerate(model.milestones):
        next_state = names[position + 1] if position + 1 < len(names) else COMPLETED_STATE
        states[milestone.name] = _await_milestone(milestone, next_state)
        if milestone.failure:
            states[arrived_early_state(milestone)] = _check_early_outcome(milestone, next_state)
        states[failed_state(milestone)] = _record_failure(milestone)
    states[COMPLETED_STATE] = _record_status(table.COMPLETED, end=True)
    states[FAILED_STATE] = {"Type": "Fail", "Error": FAILURE_ERROR, "CausePath": "$.failed.milestone"}
    return {
        "Comment": f"{model.name} {model.version}: one callback state per milestone, generated from the model.",
        "StartAt": names[0],
        "States": states,
    }


def _key(sort_key: str) -> dict[str, Any]:
    return {table.PARTITION_KEY: {"S.$": "$.id"}, table.SORT_KEY: {"S": sort_key}}


def _await_milestone(milestone: Milestone, next_state: str) -> dict[str, Any]:
    early_next = arrived_early_state(milestone) if milestone.failure else next_state
    catches: list[dict[str, Any]] = []
    if milestone.failure:
        catches.append(
            {"ErrorEquals": list(milestone.failure), "ResultPath": "$.failure", "Next": failed_state(milestone)}
        )
    catches += [
        {"ErrorEquals": [CONDITION_FAILED], "ResultPath": f"$.milestones.{milestone.name}", "Next": early_next},
        {"ErrorEquals": [TIMEOUT], "ResultPath": "$.failure", "Next": failed_state(milestone)},
    ]
    return {
        "Type": "Task",
        "Comment": f"Waits for {' or '.join(milestone.success + milestone.failure)}.",
        "Resource": f"{UPDATE_ITEM}.waitForTaskToken",
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _key(milestone.name),
            "UpdateExpression": (
                f"SET {table.TASK_TOKEN} = :token, {table.WAITING_SINCE} = :now, "
                f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires)"
            ),
            "ConditionExpression": f"attribute_not_exists({table.SETTLED_BY})",
            "ExpressionAttributeValues": {
                ":token": {"S.$": "$$.Task.Token"},
                ":now": {"S.$": "$$.State.EnteredTime"},
                ":expires": {"N.$": "$.expiresAt"},
            },
        },
        "TimeoutSeconds": milestone.sla_seconds,
        "ResultPath": f"$.milestones.{milestone.name}",
        "Retry": RETRY_TRANSIENT,
        "Catch": catches,
        "Next": next_state,
    }


def _check_early_outcome(milestone: Milestone, next_state: str) -> dict[str, Any]:
    """The event came before the execution reached the milestone: go on if it was a success."""
    return {
        "Type": "Task",
        "Comment": "The milestone's event arrived first; a failure event ends the order here.",
        "Resource": UPDATE_ITEM,
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _key(milestone.name),
            "UpdateExpression": f"SET {table.CONSUMED_AT} = :now",
            "ConditionExpression": f"{table.SETTLED_BY}.{table.OUTCOME} = :success",
            "ExpressionAttributeValues": {
                ":success": {"S": SUCCESS},
                ":now": {"S.$": "$$.State.EnteredTime"},
            },
        },
        "ResultPath": None,
        "Retry": RETRY_TRANSIENT,
        "Catch": [{"ErrorEquals": [CONDITION_FAILED], "ResultPath": "$.failure", "Next": failed_state(milestone)}],
        "Next": next_state,
    }


def _record_failure(milestone: Milestone) -> dict[str, Any]:
    state = _record_status(table.FAILED, end=False, extra={table.FAILED_MILESTONE: {"S": milestone.name}})
    state["ResultSelector"] = {"milestone": milestone.name}
    state["ResultPath"] = "$.failed"
    state["Next"] = FAILED_STATE
    return state


def _record_status(status: str, *, end: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":now": {"S.$": "$$.State.EnteredTime"},
        ":expires": {"N.$": "$.expiresAt"},
        **{f":{name}": value for name, value in (extra or {}).items()},
    }
    assignments = [
        f"#{table.STATUS} = :status",
        f"{table.STATUS_UPDATED_AT} = :now",
        f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires)",
        *(f"{name} = :{name}" for name in (extra or {})),
    ]
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": f"Marks the instance {status} in the table.",
        "Resource": UPDATE_ITEM,
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _key(table.INSTANCE_SK),
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ExpressionAttributeNames": {f"#{table.STATUS}": table.STATUS},
            "ExpressionAttributeValues": values,
        },
        "ResultPath": None,
        "Retry": RETRY_TRANSIENT,
    }
    if end:
        state["End"] = True
    return state
