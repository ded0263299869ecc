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

from dataclasses import dataclass
from functools import reduce
from typing import Any

from lambdas.choreography import execution, table
from lambdas.choreography.model import SUCCESS, Choreography, Concurrent, Milestone

TABLE_NAME = "${TableName}"
BUS_NAME = "${BusName}"
UPDATE_ITEM = "arn:aws:states:::aws-sdk:dynamodb:updateItem"
TRANSACT_WRITE = "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems"
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


@dataclass(frozen=True)
class Scope:
    """Where a wait's exceptional paths lead: the main line's shared states, or a Parallel branch's own
    (a branch cannot leave itself). `wait_again` is None where one milestone is served: back is its wait."""

    stuck: str
    publish: str
    wait_again: str | None
    out_of_escalations: str
    failed: str

    def back_to(self, milestones: tuple[Milestone, ...]) -> str:
        return self.wait_again or milestones[0].name


def main_scope(model: Choreography) -> Scope:
    return Scope(
        STUCK_STATE,
        notify_stuck_state(model, model.milestones[0]),
        WAIT_AGAIN_STATE,
        OUT_OF_ESCALATIONS_STATE,
        RECORD_FAILURE_STATE,
    )


def branch_scope(model: Choreography, branch: tuple[Milestone, ...]) -> Scope:
    label = branch[0].name if len(branch) == 1 else f"{branch[0].name} to {branch[-1].name}"
    return Scope(
        f"{label} stuck",
        f"{label}: publish {model.stuck_event}",
        f"{label} wait again" if len(branch) > 1 else None,
        f"{label} out of escalations",
        f"{label} failed",
    )


def build_definition(model: Choreography) -> dict[str, Any]:
    states: dict[str, Any] = {}
    scope = main_scope(model)
    entries = [_entry(step) for step in model.plan]
    for position, step in enumerate(model.plan):
        next_state = entries[position + 1] if position + 1 < len(entries) else COMPLETED_STATE
        if isinstance(step, Concurrent):
            states[step.name] = _concurrently(model, step, next_state)
        else:
            states |= _milestone_states(step, next_state, scope)
    states[COMPLETED_STATE] = _record_status(table.COMPLETED, end=True)
    sequential = tuple(step for step in model.plan if isinstance(step, Milestone))
    states |= _exceptional_states(model, scope, sequential)
    states[RECORD_FAILURE_STATE] = _record_failure(model)
    states[FAILED_STATE] = {"Type": "Fail", "Error": FAILURE_ERROR, "CausePath": "$.failed.milestone"}
    return {
        "Comment": f"{model.name} {model.version}: one callback state per milestone, generated from the model.",
        "StartAt": entries[0],
        "States": states,
    }


def _entry(step: Milestone | Concurrent) -> str:
    return step.name


def _milestone_states(milestone: Milestone, next_state: str | None, scope: Scope) -> dict[str, Any]:
    """A milestone's own states: its wait, and the check of an event that came first where that event
    may be a failure. `next_state` None: the end of a Parallel branch, which hands on its milestones."""
    states = {milestone.name: _await_milestone(milestone, next_state, scope)}
    if milestone.failure:
        states[arrived_early_state(milestone)] = _check_early_outcome(milestone, next_state, scope)
    elif next_state is None:  # the early path needs a state to end the branch on
        states[arrived_early_state(milestone)] = _ends_branch(
            {"Type": "Pass", "Comment": "The milestone's event arrived first."}
        )
    return states


def _exceptional_states(model: Choreography, scope: Scope, served: tuple[Milestone, ...]) -> dict[str, Any]:
    """Stuck, its notice, waiting again and running out of escalations, shared by the milestones served."""
    back = scope.back_to(served)
    states = {
        scope.stuck: _mark_stuck(scope),
        scope.publish: _publish_stuck(model, back),
    }
    if scope.wait_again:
        states[scope.wait_again] = _wait_again(served)
    states[scope.out_of_escalations] = _record_timeout(scope, back)
    return states


def _concurrently(model: Choreography, step: Concurrent, next_state: str) -> dict[str, Any]:
    """A Parallel state: each branch waits for its milestones with exceptional states of its own and
    hands on its milestone map; the maps are merged. A branch that fails names its milestone as the
    cause, and the catch hands it to the main line's failure record (the other branches are stopped)."""
    merged = reduce(
        lambda left, right: f"States.JsonMerge({left}, {right}, false)", [f"$[{i}]" for i in range(len(step.branches))]
    )
    return {
        "Type": "Parallel",
        "Comment": f"{' and '.join(', '.join(m.name for m in branch) for branch in step.branches)}, concurrently.",
        "Branches": [_branch(model, branch) for branch in step.branches],
        "ResultSelector": {f"{execution.MILESTONES}.$": merged},
        "ResultPath": f"$.{execution.CONCURRENT}",
        "Catch": [
            {
                "ErrorEquals": [FAILURE_ERROR],
                "ResultPath": "$.failure",
                "Assign": {f"{MILESTONE_VARIABLE}.$": "$.Cause"},
                "Next": RECORD_FAILURE_STATE,
            }
        ],
        "Next": next_state,
    }


def _branch(model: Choreography, branch: tuple[Milestone, ...]) -> dict[str, Any]:
    scope = branch_scope(model, branch)
    states: dict[str, Any] = {}
    for position, milestone in enumerate(branch):
        next_state = branch[position + 1].name if position + 1 < len(branch) else None
        states |= _milestone_states(milestone, next_state, scope)
    states |= _exceptional_states(model, scope, branch)
    states[scope.failed] = {"Type": "Fail", "Error": FAILURE_ERROR, "CausePath": _variable(MILESTONE_VARIABLE)}
    return {"StartAt": branch[0].name, "States": states}


def _ends_branch(state: dict[str, Any]) -> dict[str, Any]:
    """The last state of a branch: its output is the branch's milestones, for the Parallel to merge."""
    return state | {"OutputPath": f"$.{execution.MILESTONES}", "End": True}


def _then(state: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    return state | {"Next": next_state} if next_state else _ends_branch(state)


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


def _await_milestone(milestone: Milestone, next_state: str | None, scope: Scope) -> dict[str, Any]:
    early_next = arrived_early_state(milestone) if milestone.failure or next_state is None else next_state
    catches: list[dict[str, Any]] = []
    if milestone.failure:
        catches.append(
            {
                "ErrorEquals": list(milestone.failure),
                "ResultPath": "$.failure",
                "Assign": _serving(milestone),
                "Next": scope.failed,
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
            "Next": scope.stuck,
        },
    ]
    return _then(
        {
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
        },
        next_state,
    )


def _mark_stuck(scope: Scope) -> dict[str, Any]:
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
        "Catch": [{"ErrorEquals": [CONDITION_FAILED], "ResultPath": None, "Next": scope.out_of_escalations}],
        "Next": scope.publish,
    }


def _publish_stuck(model: Choreography, back: str) -> dict[str, Any]:
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
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notice", "Next": back}],
        "Next": back,
    }


def _wait_again(milestones: tuple[Milestone, ...]) -> dict[str, Any]:
    """Back to the wait of the milestone being served: a late event completes it as usual, and one that
    came meanwhile is found by the wait's condition."""
    return {
        "Type": "Choice",
        "Comment": "Back to the stuck milestone's wait.",
        "Choices": [
            {"Variable": _variable(MILESTONE_VARIABLE), "StringEquals": milestone.name, "Next": milestone.name}
            for milestone in milestones
        ],
    }


def _record_timeout(scope: Scope, back: str) -> dict[str, Any]:
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
        "Catch": [{"ErrorEquals": [CONDITION_FAILED], "ResultPath": None, "Next": back}],
        "Next": scope.failed,
    }


def _check_early_outcome(milestone: Milestone, next_state: str | None, scope: Scope) -> dict[str, Any]:
    """The event came before the execution reached the milestone: go on if it was a success."""
    return _then(
        {
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
                "ReturnValues": "ALL_OLD",
            },
            # The event's time, kept as a wait's output would keep it: the next wait stores it with its
            # token, so the next milestone's pair is measured (and compared) without a read.
            "ResultSelector": {f"{execution.EVENT_TIME}.$": f"$.Attributes.{table.SETTLED_BY}.M.{table.EVENT_TIME}.S"},
            "ResultPath": f"$.{execution.MILESTONES}.{milestone.name}",
            "Retry": RETRY_TRANSIENT,
            "Catch": [
                {
                    "ErrorEquals": [CONDITION_FAILED],
                    "ResultPath": "$.failure",
                    "Assign": _serving(milestone),
                    "Next": scope.failed,
                }
            ],
        },
        next_state,
    )


def _record_failure(model: Choreography) -> dict[str, Any]:
    milestone = {"S.$": _variable(MILESTONE_VARIABLE)}
    state = _record_status(table.FAILED, end=False, extra={table.FAILED_MILESTONE: milestone})
    state["Comment"] = "Marks the instance FAILED at the milestone being served."
    concurrent = [m for m in model.milestones if model.concurrent(m)]
    if concurrent:
        state = _clearing_stuck_marks(state, concurrent)
    state["ResultSelector"] = {"milestone.$": _variable(MILESTONE_VARIABLE)}
    state["ResultPath"] = "$.failed"
    state["Next"] = FAILED_STATE
    return state


def _clearing_stuck_marks(record: dict[str, Any], concurrent: list[Milestone]) -> dict[str, Any]:
    """The failure record, with the STUCK mark taken off every concurrent milestone in the same write: a
    failed branch stops the others, and a stopped branch never comes back to take its own mark off."""
    unmark = [
        {
            "Update": {
                "TableName": TABLE_NAME,
                "Key": _key(milestone.name),
                "UpdateExpression": (
                    f"SET {table.TTL_ATTRIBUTE} = if_not_exists({table.TTL_ATTRIBUTE}, :expires) "
                    f"REMOVE #status, {table.STATUS_UPDATED_AT}"
                ),
                "ExpressionAttributeNames": {"#status": table.STATUS},
                "ExpressionAttributeValues": {":expires": {"N.$": f"$.{execution.EXPIRES_AT}"}},
            }
        }
        for milestone in concurrent
    ]
    return record | {
        "Comment": "Marks the instance FAILED at the milestone being served; no concurrent milestone stays STUCK.",
        "Resource": TRANSACT_WRITE,
        "Parameters": {"TransactItems": [{"Update": record["Parameters"]}, *unmark]},
    }


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
