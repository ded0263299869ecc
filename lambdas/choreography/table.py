"""The layout of the monitor's DynamoDB table, shared by the generated state machine and the handlers.

One partition per instance (an order, a return...): the item under INSTANCE_SK holds the instance's
status, and one item per milestone, keyed by the milestone's name, is where the state machine's task
token and the services' event meet. Both writers change a milestone item with single-item atomic
updates, so whichever arrives second sees the other.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
INSTANCE_SK = "#instance"  # cannot be a milestone name: those start with a capital letter
TTL_ATTRIBUTE = "expiresAt"
STATUS_INDEX = "byStatus"

# Milestone item, written by the state machine.
TASK_TOKEN = "taskToken"
WAITING_SINCE = "waitingSince"
EXECUTION_ARN = "executionArn"
CONSUMED_AT = "consumedAt"  # the execution went on with an event that had arrived first
# The execution's state as it reached the milestone (JSON): the start's time and the events it went by,
# so that the correlator's one write, which returns it, measures the milestone's latency without a read.
REACHED_WITH = "reachedWith"
# A milestone that outlived its SLA carries the STUCK status itself (the index then lists it), so the
# correlator's one write that records its event also clears it: no race with the execution's writes.
ESCALATIONS = "escalations"  # how many times the milestone outlived its SLA
TIMED_OUT_AT = "timedOutAt"  # the escalations ran out: the instance failed here

# Milestone item, written by the correlator. The first event recorded settles the milestone: it is
# stored whole, as one map written with if_not_exists, so later deliveries cannot change it.
SETTLED_BY = "settledBy"
OUTCOME = "outcome"  # in SETTLED_BY: "success" or "failure"
EVENT_TYPE = "type"  # in SETTLED_BY and STARTED_BY
EVENT_ID = "id"  # in SETTLED_BY and STARTED_BY
EVENT_TIME = "time"  # in SETTLED_BY and STARTED_BY
ARRIVED_AT = "arrivedAt"  # in SETTLED_BY
EVENT_IDS = "eventIds"  # every distinct event id seen, so duplicates can be counted
RECEIVED = "received"  # deliveries, duplicates included
# The next milestone's event time, left by that event when it came before its wait; the pair's latency is
# measured by whichever of the two writes (this one, or this milestone's own event's) comes second.
NEXT_EVENT_TIME = "nextEventTime"

# Instance item.
STATUS = "status"
STATUS_UPDATED_AT = "statusUpdatedAt"
STARTED_BY = "startedBy"  # the first start event, as a map, with the execution and model it started
FAILED_MILESTONE = "failedMilestone"
MODEL = "model"  # in STARTED_BY
MODEL_VERSION = "modelVersion"  # in STARTED_BY
# An instance whose services acted out of the modelled order: the pairs, as a string set of
# "milestone<follows" (ADD to a set is idempotent, and its old value says which pairs are new), and the
# keys of the sparse index that lists such instances, newest first.
OUT_OF_ORDER = "outOfOrder"
DEVIATING = "deviating"  # the index's partition key: the model's name
DEVIATING_SINCE = "deviatingSince"  # when its first pair was marked: the index's sort key
DEVIATION_INDEX = "byDeviation"
EARLY_BY = "earlyBy:"  # + a pair ("earlyBy:Dispatch<Packaging"): seconds its first event came early

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
STUCK = "STUCK"
STATUSES = (RUNNING, STUCK, FAILED, COMPLETED)
# Where an order stopped is recorded only for stopped orders (recording where every healthy order is
# would cost one more state transition per milestone): a failed instance item names its milestone, and
# a stuck status is held by the milestone's own item.
MILESTONE_OF_STATUS = {FAILED: FAILED_MILESTONE, STUCK: SORT_KEY}


def plain(item: Mapping[str, Any] | None) -> dict[str, Any]:
    """An item as DynamoDB's low-level API returns it, with plain Python values, as boto3's TypeDeserializer
    gives them (numbers as Decimal, sets as sets). Not boto3's own: importing boto3 for it would add its
    whole package (s3transfer included) to every cold start."""
    return {name: _plain_value(value) for name, value in (item or {}).items()}


def _plain_value(value: Mapping[str, Any]) -> Any:
    ((kind, data),) = value.items()
    if kind in ("S", "B", "BOOL"):
        return data
    if kind == "N":
        return Decimal(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: _plain_value(member) for name, member in data.items()}
    if kind == "L":
        return [_plain_value(member) for member in data]
    if kind == "NS":
        return {Decimal(number) for number in data}
    if kind in ("SS", "BS"):
        return set(data)
    raise ValueError(f"not a DynamoDB attribute value: {kind}")
