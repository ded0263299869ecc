"""Turn a choreography model into the Amazon States Language definition of its state machine.

The console draws every state, so the definition is shaped to read like the choreography: the
milestones, in model order, form the main line, with one wait each and, for a milestone that can fail,
one check. Everything exceptional is handled by states that every milestone shares; the catch that
sends an execution there also assigns, as workflow variables, which milestone it serves, its SLA and
its escalations, and the shared states read them. So the definition has milestones + milestones that
can fail + 7 states, whatever the model's length.

Every state entered is billed, so the happy path enters exactly one state per milestone plus
"Completed". Each wait writes its task token to the milestone's item with the AWS SDK DynamoDB
integration and waits (`.waitForTaskToken`); the correlator sends the outcome when the event arrives.
The same write stores the execution's state (the start's time, the events it went by), which the
correlator's write returns: it measures the milestone's latency without a read of its own. The write
is conditional on no event being recorded yet: if the event came first, the write fails and a Catch
routes on without waiting (through the milestone's check when it can fail).

A milestone that outlives its SLA does not fail the order: the wait times out into "Stuck", which
marks the milestone's item STUCK (so the status index lists it), then the model's stuck event is
published on the bus, and "Wait again" routes back to the milestone's own wait; a late event completes
the order as usual. When the milestone has been stuck as many times as the model allows, "Out of
escalations" ends it in the failed branch. None of these states is entered on the happy path.

The table and bus names are left as the substitutions `${TableName}` and `${BusName}`: CloudFormation
fills them in on deploy, and the local runtime does the same from the template.
"""

from __future__ import annotations

from typing import Any

from lambdas.choreography import execution, table
from lambdas.choreography.model import SUCCESS, Choreography, Milestone

TABLE_NAME = "${TableName}"
BUS_NAME = "${BusName}"
UPDATE_ITEM = "arn:aws:states:::aws-sdk:dynamodb:updateItem"
PUT_EVENTS = "arn:aws:states:::events:putEvents"
CONDITION_FAILED = "DynamoDb.ConditionalCheckFailedException"
TIMEOUT = "States.Timeout"
COMPLETED_STATE = "Completed"
FAILED_STATE = "Failed"
FAILURE_ERROR = "MilestoneFailed"

# The states every milestone shares.
RECORD_FAILURE_STATE = "Record failure"
STUCK_STATE = "Stuck"
WAIT_AGAIN_STATE = "Wait again"
OUT_OF_ESCALATIONS_STATE = "Out of escalations"

# Workflow variables: which milestone a shared state serves, and that milestone's settings.
MILESTONE_VARIABLE = "milestone"
SLA_VARIABLE = "slaSeconds"
ESCALATIONS_VARIABLE = "escalations"

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
    """Where a failure of `milestone` is recorded (shared by every milestone)."""
    return RECORD_FAILURE_STATE


def arrived_early_state(milestone: Milestone) -> str:
    return f"{milestone.name} arrived early"


def stuck_state(milestone: Milestone) -> str:
    """Where `milestone` is marked STUCK when it outlives its SLA (shared)."""
    return STUCK_STATE


def notify_stuck_state(model: Choreography, milestone: Milestone) -> str:
    """Where the model's stuck event is published for `milestone` (shared)."""
    return f"Publish {model.stuck_event}"


def late_wait_state(milestone: Milestone) -> str:
    """Where a stuck `milestone` waits again: its own wait, re-entered through "Wait again"."""
    return milestone.name


def timed_out_state(milestone: Milestone) -> str:
    """Where `milestone` ends when it has been stuck as many times as the model allows (shared)."""
    return OUT_OF_ESCALATIONS_STATE


def build_definition(model: Choreography) -> dict[str, Any]:
    states: dict[str, Any] = {}
    names = [milestone.name for milestone in model.milestones]
    for position, milestone in enumerate(model.milestones):
        next_state = names[position + 1] if position + 1 < len(names) else COMPLETED_STATE
        states[milestone.name] = _await_milestone(milestone, next_state)
        if milestone.failure:
            states[arrived_early_state(milestone)] = _check_early_outcome(milestone, next_state)
    states[COMPLETED_STATE] = _record_status(table.COMPLETED, end=True)
    states[STUCK_STATE] = _mark_stuck(notify_stuck_state(model, model.milestones[0]))
    states[notify_stuck_state(model, model.milestones[0])] = _publish_stuck(model)
    states[WAIT_AGAIN_STATE] = _wait_again(model)
    states[OUT_OF_ESCALATIONS_STATE] = _record_timeout()
    states[RECORD_FAILURE_STATE] = _record_failure()
    states[FAILED_STATE] = {"Type": "Fail", "Error": FAILURE_ERROR, "CausePath": "$.failed.milestone"}
    return {
        "Comment": f"{model.name} {model.version}: one callback state per milestone, generated from the model.",
        "StartAt": names[0],
        "States": states,
    }


def _serving(milestone: Milestone, *, settings: bool = False) -> dict[str, Any]:
    """A catch's assignment: the milestone the shared states serve next (and its SLA and escalations)."""
    assigned: dict[str, Any] = {MILESTONE_VARIABLE: milestone.name}
    if settings:
        assigned |= {SLA_VARIABLE: milestone.sla_seconds, ESCALATIONS_VARIABLE: milestone.escalations}
    return assigned


def _variable(name: str) -> str:
    return f"${name}"


def _key(sort_key: str) -> dict[str, Any]:
    return {table.PARTITION_KEY: {"S.$": f"$.{execution.INSTANCE_ID}"}, table.SORT_KEY: {"S": sort_key}}


def _served_key() -> dict[str, Any]:
    """The item of the milestone a shared state serves."""
    return {
        table.PARTITION_KEY: {"S.$": f"$.{execution.INSTANCE_ID}"},
        table.SORT_KEY: {"S.$": _variable(MILESTONE_VARIABLE)},
    }


def _await_milestone(milestone: Milestone, next_state: str) -> dict[str, Any]:
    early_next = arrived_early_state(milestone) if milestone.failure else next_state
    catches: list[dict[str, Any]] = []
    if milestone.failure:
        catches.append(
            {
                "ErrorEquals": list(milestone.failure),
                "ResultPath": "$.failure",
                "Assign": _serving(milestone),
                "Next": failed_state(milestone),
            }
        )
    catches += [
        {
            "ErrorEquals": [CONDITION_FAILED],
            "ResultPath": f"$.{execution.MILESTONES}.{milestone.name}",
            "Next": early_next,
        },
        {
            "ErrorEquals": [TIMEOUT],
            "ResultPath": "$.failure",
            "Assign": _serving(milestone, settings=True),
            "Next": stuck_state(milestone),
        },
    ]
    return {
        "Type": "Task",
        "Comment": f"Waits for {' or '.join(milestone.success + milestone.failure)}.",
        "Resource": f"{UPDATE_ITEM}.waitForTaskToken",
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _key(milestone.name),
            # waitingSince keeps the first wait's time: waiting again once stuck is still the same wait.
            "UpdateExpression": (
                f"SET {table.TASK_TOKEN} = :token, {table.WAITING_SINCE} = if_not_exists({table.WAITING_SINCE}, :now), "
                f"{table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires), "
                f"{table.REACHED_WITH} = :reached"
            ),
            "ConditionExpression": f"attribute_not_exists({table.SETTLED_BY})",
            "ExpressionAttributeValues": {
                ":token": {"S.$": "$$.Task.Token"},
                ":now": {"S.$": "$$.State.EnteredTime"},
                ":expires": {"N.$": f"$.{execution.EXPIRES_AT}"},
                # The whole state, which every execution has, whichever correlator started it.
                ":reached": {"S.$": "States.JsonToString($)"},
            },
        },
        "TimeoutSeconds": milestone.sla_seconds,
        "ResultPath": f"$.{execution.MILESTONES}.{milestone.name}",
        "Retry": RETRY_TRANSIENT,
        "Catch": catches,
        "Next": next_state,
    }


def _mark_stuck(next_state: str) -> dict[str, Any]:
    """Count the escalation and list the milestone as STUCK, unless its event has come meanwhile or the
    escalations ran out (both fail the condition; "Out of escalations" tells them apart)."""
    return {
        "Type": "Task",
        "Comment": "A milestone outlived its SLA: marks it STUCK.",
        "Resource": UPDATE_ITEM,
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _served_key(),
            "UpdateExpression": (
                f"SET #status = :stuck, {table.STATUS_UPDATED_AT} = if_not_exists({table.STATUS_UPDATED_AT}, :now), "
                f"{table.EXECUTION_ARN} = :execution ADD {table.ESCALATIONS} :one"
            ),
            "ConditionExpression": (
                f"attribute_not_exists({table.SETTLED_BY}) AND "
                f"(attribute_not_exists({table.ESCALATIONS}) OR {table.ESCALATIONS} < :limit)"
            ),
            "ExpressionAttributeNames": {"#status": table.STATUS},
            "ExpressionAttributeValues": {
                ":stuck": {"S": table.STUCK},
                ":now": {"S.$": "$$.State.EnteredTime"},
                ":execution": {"S.$": "$$.Execution.Id"},
                ":one": {"N": "1"},
                ":limit": {"N.$": f"States.JsonToString({_variable(ESCALATIONS_VARIABLE)})"},
            },
            "ReturnValues": "ALL_NEW",
        },
        "ResultSelector": {
            "waitingSince.$": f"$.Attributes.{table.WAITING_SINCE}.S",
            "stuckSince.$": f"$.Attributes.{table.STATUS_UPDATED_AT}.S",
            "escalation.$": f"$.Attributes.{table.ESCALATIONS}.N",
        },
        "ResultPath": "$.stuck",
        "Retry": RETRY_TRANSIENT,
        "Catch": [{"ErrorEquals": [CONDITION_FAILED], "ResultPath": None, "Next": OUT_OF_ESCALATIONS_STATE}],
        "Next": next_state,
    }


def _publish_stuck(model: Choreography) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": "Tells whoever listens on the bus that a milestone is late.",
        "Resource": PUT_EVENTS,
        "Parameters": {
            "Entries": [
                {
                    "EventBusName": BUS_NAME,
                    "Source": model.monitor_source,
                    "DetailType": model.stuck_event,
                    "Detail": {
                        # Named as the services name it (e.g. orderId), so consumers join on the same key.
                        f"{model.correlation_path[-1]}.$": f"$.{execution.INSTANCE_ID}",
                        "model": model.name,
                        "milestone.$": _variable(MILESTONE_VARIABLE),
                        "waitingSince.$": "$.stuck.waitingSince",
                        "stuckSince.$": "$.stuck.stuckSince",
                        "slaSeconds.$": _variable(SLA_VARIABLE),
                        "escalation.$": "States.StringToJson($.stuck.escalation)",
                        "escalations.$": _variable(ESCALATIONS_VARIABLE),
                        "executionArn.$": "$$.Execution.Id",
                    },
                }
            ]
        },
        "ResultPath": None,
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}],
        # The STUCK mark is already in the table: a notice that cannot be sent must not stop the wait.
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notice", "Next": WAIT_AGAIN_STATE}],
        "Next": WAIT_AGAIN_STATE,
    }


def _wait_again(model: Choreography) -> dict[str, Any]:
    """Back to the wait of the milestone being served: a late event completes it as usual, and one that
    came meanwhile is found by the wait's condition."""
    return {
        "Type": "Choice",
        "Comment": "Back to the stuck milestone's wait.",
        "Choices": [
            {"Variable": _variable(MILESTONE_VARIABLE), "StringEquals": milestone.name, "Next": milestone.name}
            for milestone in model.milestones
        ],
    }


def _record_timeout() -> dict[str, Any]:
    """Out of escalations: take the milestone off the STUCK list and fail the instance, unless the event
    arrived after all (then its wait finds it and goes on)."""
    return {
        "Type": "Task",
        "Comment": "A milestone stayed stuck as many times as the model allows: the instance fails.",
        "Resource": UPDATE_ITEM,
        "Parameters": {
            "TableName": TABLE_NAME,
            "Key": _served_key(),
            "UpdateExpression": f"SET {table.TIMED_OUT_AT} = :now REMOVE #status, {table.STATUS_UPDATED_AT}",
            "ConditionExpression": f"attribute_not_exists({table.SETTLED_BY})",
            "ExpressionAttributeNames": {"#status": table.STATUS},
            "ExpressionAttributeValues": {":now": {"S.$": "$$.State.EnteredTime"}},
        },
        "ResultPath": None,
        "Retry": RETRY_TRANSIENT,
        "Catch": [{"ErrorEquals": [CONDITION_FAILED], "ResultPath": None, "Next": WAIT_AGAIN_STATE}],
        "Next": RECORD_FAILURE_STATE,
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
        "Catch": [
            {
                "ErrorEquals": [CONDITION_FAILED],
                "ResultPath": "$.failure",
                "Assign": _serving(milestone),
                "Next": failed_state(milestone),
            }
        ],
        "Next": next_state,
    }


def _record_failure() -> dict[str, Any]:
    milestone = {"S.$": _variable(MILESTONE_VARIABLE)}
    state = _record_status(table.FAILED, end=False, extra={table.FAILED_MILESTONE: milestone})
    state["Comment"] = "Marks the instance FAILED at the milestone being served."
    state["ResultSelector"] = {"milestone.$": _variable(MILESTONE_VARIABLE)}
    state["ResultPath"] = "$.failed"
    state["Next"] = FAILED_STATE
    return state


def _record_status(status: str, *, end: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":now": {"S.$": "$$.State.EnteredTime"},
        ":expires": {"N.$": f"$.{execution.EXPIRES_AT}"},
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
