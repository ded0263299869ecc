"""Step Functions' event for an execution's end, as it reaches the account's default bus: what the
stack's rule matches and the end check reads. Pure and free of the functions' dependencies: the stack
imports it at synth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class NotAnExecutionEnd(ValueError):
    """What the rule should not have delivered: named by the field that is not as expected."""


def ended_instance(event: Any) -> str:
    """The instance whose execution ended: the execution's name is the instance's id."""
    if not isinstance(event, Mapping) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise NotAnExecutionEnd(f"source, detail-type: not a {SOURCE} {DETAIL_TYPE!r} event")
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    status = detail.get("status")
    if status not in ENDED:
        raise NotAnExecutionEnd(f"detail.status: {status!r} is not one of {', '.join(ENDED)}")
    name = detail.get("name")
    if not isinstance(name, str) or not name:
        raise NotAnExecutionEnd("detail.name: is missing")
    return name
