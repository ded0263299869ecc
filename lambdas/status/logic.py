"""Where an instance is, derived from its records alone (never from Step Functions, whose read APIs are
throttled at 15 to 20 calls per second per account). Pure: the records come in, a description goes out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lambdas.choreography import execution, table
from lambdas.choreography.model import FAILURE, Choreography, Concurrent, Milestone

DONE = "done"
AWAITING = "awaiting"
FAILED = "failed"
PENDING = "pending"
ARRIVED_EARLY = "arrived early"
STUCK = "stuck"
TIMED_OUT = "timed out"

NOT_STARTED = "NOT_STARTED"


def console_link(execution_arn: str) -> str:
    region = execution_arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def milestone_state(item: Mapping[str, Any] | None) -> str:
    if not item:
        return PENDING
    reached = table.TASK_TOKEN in item or table.CONSUMED_AT in item
    settled_by = item.get(table.SETTLED_BY)
    if table.TIMED_OUT_AT in item and not settled_by:
        return TIMED_OUT
    if item.get(table.STATUS) == table.STUCK:
        return STUCK
    if settled_by:
        if not reached:
            return ARRIVED_EARLY
        return FAILED if settled_by[table.OUTCOME] == FAILURE else DONE
    return AWAITING if table.TASK_TOKEN in item else PENDING


def describe_milestone(milestone: Milestone, item: Mapping[str, Any] | None) -> dict[str, Any]:
    item = item or {}
    settled_by = item.get(table.SETTLED_BY, {})
    event_ids = sorted(item.get(table.EVENT_IDS, ()))
    received = int(item.get(table.RECEIVED, 0))
    return {
        "name": milestone.name,
        "state": milestone_state(item),
        "slaSeconds": milestone.sla_seconds,
        "waitingSince": item.get(table.WAITING_SINCE),
        "event": settled_by.get(table.EVENT_TYPE),
        "eventTime": settled_by.get(table.EVENT_TIME),
        "arrivedAt": settled_by.get(table.ARRIVED_AT),
        "eventIds": event_ids,
        "duplicates": max(received - 1, 0),
        "escalations": int(item.get(table.ESCALATIONS, 0)),
    }


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:  # a time the event's schema did not constrain to ISO 8601
        return None


def _add_durations(model: Choreography, milestones: list[dict[str, Any]], started_at: str | None) -> None:
    """Each settled milestone's duration: from when its clock started (the latest event of the milestones
    it follows, or the start) to its own event. A milestone it follows that has no event yet stands
    for the clock start of its own."""
    times: dict[str, str | None] = {m["name"]: m["eventTime"] for m in milestones}
    starts: dict[str, str | None] = {}
    for milestone in milestones:  # in model order: what a milestone follows comes before it
        before = [times[p.name] or starts[p.name] for p in model.predecessors[milestone["name"]]]
        known = [time for time in before if time]
        starts[milestone["name"]] = max(known, key=execution.moment) if known else None if before else started_at
        milestone["durationSeconds"] = _seconds_between(starts[milestone["name"]], milestone["eventTime"])


def _deviations(model: Choreography, milestones: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services that acted out of the modelled order: each milestone whose event time is earlier than
    the latest event of the milestones it follows, by more than the model's clock skew. Concurrent
    milestones follow none of each other; a first milestone follows only the start."""
    times: dict[str, str | None] = {m["name"]: m["eventTime"] for m in milestones}
    found = []
    for milestone in milestones:
        known = [(p.name, times[p.name]) for p in model.predecessors[milestone["name"]] if times[p.name]]
        if not milestone["eventTime"] or not known:
            continue
        follows, time = max(known, key=lambda pair: execution.moment(str(pair[1])))
        early = _seconds_between(milestone["eventTime"], time)
        if early is not None and early > model.clock_skew_seconds:
            found.append({"milestone": milestone["name"], "follows": follows, "earlyBySeconds": early})
    return found


def _position_of_execution(milestones: list[dict[str, Any]]) -> int:
    return next((i for i, m in enumerate(milestones) if m["state"] in (AWAITING, STUCK, FAILED, TIMED_OUT, PENDING)), 0)


def _reached(model: Choreography, milestones: list[dict[str, Any]], current: int) -> set[str]:
    """The milestones the execution has gone by or is at: those before the first one it is at, and the
    concurrent milestones of a group it has entered (its branches start together)."""
    reached = {m["name"] for m in milestones[:current]}
    for step in model.plan:
        if isinstance(step, Concurrent):
            members = [m for branch in step.branches for m in branch]
            if any(m.name in reached or _waited(milestones, m.name) for m in members):
                reached |= {branch[0].name for branch in step.branches}
    return reached


def _waited(milestones: list[dict[str, Any]], name: str) -> bool:
    return any(m["name"] == name and m.get("waitingSince") for m in milestones)


def describe_instance(model: Choreography, instance_id: str, items: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    instance = items.get(table.INSTANCE_SK, {})
    milestones = [describe_milestone(m, items.get(m.name)) for m in model.milestones]
    status = instance.get(table.STATUS, NOT_STARTED)
    # An event that came first is passed over without a write once the execution goes by its milestone:
    # every milestone before the one the execution is at (or all of them, once it completed) is done.
    current = len(milestones) if status == table.COMPLETED else _position_of_execution(milestones)
    reached = _reached(model, milestones, current)
    failures = {name for m in model.milestones for name in m.failure}
    for milestone in milestones:
        if milestone["state"] == ARRIVED_EARLY and milestone["name"] in reached:
            milestone["state"] = FAILED if milestone["event"] in failures else DONE
    started_by = instance.get(table.STARTED_BY, {})
    _add_durations(model, milestones, started_by.get(table.EVENT_TIME))
    waiting = [m for m in milestones if m["state"] in (AWAITING, STUCK)]
    awaiting = waiting[0] if waiting else None
    description: dict[str, Any] = {
        model.instance_key: instance_id,
        "key": model.instance_key,  # the id's name, the services' own (orderId, returnId)
        "model": model.name,
        "modelVersion": started_by.get(table.MODEL_VERSION, model.version),
        "status": status,
        "since": instance.get(table.STATUS_UPDATED_AT),
        "startedAt": started_by.get(table.EVENT_TIME),
        "milestones": milestones,
        "deviations": _deviations(model, milestones),
    }
    if status == table.RUNNING and awaiting:
        description["awaiting"] = awaiting["name"]
        description["awaitingAll"] = [m["name"] for m in waiting]  # several, where milestones are concurrent
        description["since"] = awaiting["waitingSince"]
        if awaiting["state"] == STUCK:
            stuck_item = items[awaiting["name"]]
            description["status"] = table.STUCK
            description["stuckAt"] = awaiting["name"]
            description["since"] = stuck_item.get(table.STATUS_UPDATED_AT)
            description["escalations"] = awaiting["escalations"]
    if status == table.FAILED:
        description["failedAt"] = instance.get(table.FAILED_MILESTONE)
    execution_arn = started_by.get(table.EXECUTION_ARN)
    if execution_arn:
        description["executionArn"] = execution_arn
        description["consoleUrl"] = console_link(execution_arn)
    return description


def describe_model(model: Choreography) -> dict[str, Any]:
    """The model the function reads orders with: what a console shows beside the counts."""

    def milestone(m: Milestone) -> dict[str, Any]:
        return {
            "name": m.name,
            "slaSeconds": m.sla_seconds,
            "escalations": m.escalations,
            "success": list(m.success),
            "failure": list(m.failure),
            "follows": [p.name for p in model.predecessors[m.name]],
            "concurrent": model.concurrent(m),
        }

    return {
        "model": model.name,
        "version": model.version,
        "key": model.instance_key,
        "startEvent": model.start_event,
        "stuckEvent": model.stuck_event,
        "milestones": [milestone(m) for m in model.milestones],
    }
