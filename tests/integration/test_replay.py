"""Backfill after an outage: replaying a day of the bus's archive, twice, changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.__main__ import main
from cli.replay import replay
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.runtime import LocalRuntime
from tests.checks.grants import checked_runtime


@pytest.fixture(scope="module")
def archived(order_stack: StackTemplate) -> Iterator[LocalRuntime]:
    """A runtime of its own: a replay sends every archived event again."""
    with checked_runtime(order_stack) as running:
        yield running


def _state(runtime: LocalRuntime, order_ids: list[str]) -> dict[str, Any]:
    """What a replay must not change: each order's status and the event that settled each milestone."""
    return {
        order_id: {
            sort_key: (item.get(table.STATUS), item.get(table.SETTLED_BY), item.get(table.STARTED_BY))
            for sort_key, item in runtime.items(order_id).items()
        }
        | {"execution": runtime.execution_status(order_id)}
        for order_id in order_ids
    }


def test_replaying_a_day_twice_changes_nothing(
    archived: LocalRuntime, events: EventFactory, order_model: Choreography
) -> None:
    failing = next(m for m in order_model.milestones if m.failure)
    orders = {f"REPLAY-{n}": events.lifecycle(f"REPLAY-{n}") for n in range(4)}
    orders["REPLAY-F"] = events.lifecycle("REPLAY-F", failure_at=failing.name)
    orders["REPLAY-R"] = events.lifecycle("REPLAY-R")[:3]  # still running at its third milestone
    for lifecycle in orders.values():
        archived.publish(lifecycle)
    archived.wait_for_executions([o for o in orders if o != "REPLAY-R"])
    waiting_at = order_model.milestones[2].name
    archived.wait_until_waiting("REPLAY-R", waiting_at)  # it settles into its wait before the picture is taken
    before = _state(archived, list(orders))
    executions_before = archived.execution_counts()
    delivered = sum(len(lifecycle) for lifecycle in orders.values())

    now = datetime.now(UTC)
    start, end = now - timedelta(days=1), now + timedelta(minutes=1)
    archive, bus = f"{order_model.name}-events", archived.platform.bus_name
    for attempt in (1, 2):
        invocations_before = sum(archived.outcomes.values())
        if attempt == 1:
            description = replay(
                archived.session_client("events"),
                archive_name=archive,
                bus_name=bus,
                name="backfill-1",
                start=start,
                end=end,
            )
            assert description["State"] == "COMPLETED"
        else:  # the documented command
            command = ["replay", "--archive", archive, "--bus", bus, "--name", "backfill-2"]
            assert main([*command, "--from", start.isoformat(), "--to", end.isoformat()]) == 0
        archived.platform.pump()
        archived.wait_for_executions([o for o in orders if o != "REPLAY-R"])
        # Every archived event came back once more, and each was recognised as seen.
        assert sum(archived.outcomes.values()) - invocations_before == delivered
    assert _state(archived, list(orders)) == before
    assert archived.execution_counts() == executions_before
    assert archived.outcomes["started"] == len(orders)
    assert archived.outcomes["start-duplicate"] == 2 * len(orders)
