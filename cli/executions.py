"""Step Functions reads for one execution: its definition and its history (operator tools only; the
status function never calls these, as they are throttled per account)."""

from __future__ import annotations

import json
from typing import Any


def execution_history(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def execution_definition(client: Any, execution_arn: str) -> dict[str, Any]:
    """The definition the execution runs: its own model version's, as each version has a state machine of
    its own, and as it was when the execution started."""
    machine = client.describe_state_machine_for_execution(executionArn=execution_arn)
    definition: dict[str, Any] = json.loads(machine["definition"])
    return definition
