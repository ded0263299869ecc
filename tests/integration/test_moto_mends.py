"""The speed mends of local/moto_fixes.py change no answer: with them, moto says what it says without them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.core import serialize as moto_serialize

from lambdas.choreography import table
from local.events import EventFactory
from local.runtime import LocalRuntime


@pytest.fixture
def both_pickers() -> Iterator[list[tuple[str, bool]]]:
    """Every response member read both ways while the test runs: (member, whether the two agree)."""
    mended = moto_serialize.ResponseSerializer.get_value
    compared: list[tuple[str, bool]] = []

    def compare(self: Any, value: Any, key: str, shape: Any) -> Any:
        ours = mended(self, value, key, shape)
        compared.append((key, ours is mended.unmended(self, value, key, shape)))
        return ours

    moto_serialize.ResponseSerializer.get_value = compare
    try:
        yield compared
    finally:
        moto_serialize.ResponseSerializer.get_value = mended


def test_kept_member_keys_read_what_moto_reads(
    runtime: LocalRuntime, events: EventFactory, order_id: str, both_pickers: list[tuple[str, bool]]
) -> None:
    runtime.publish(events.lifecycle(order_id))
    runtime.wait_for_executions([order_id])
    items = runtime.items(order_id)
    history = runtime.history(order_id)
    runtime.stepfunctions.list_executions(stateMachineArn=runtime.state_machine_arn)

    assert table.INSTANCE_SK in items
    assert any(event["type"] == "ExecutionSucceeded" for event in history)
    members = {key for key, _ in both_pickers}
    # Items (maps of attribute values), histories and listings went through it, not just empty answers.
    assert {"Items", "S", "L", "events", "executions"} <= members
    disagreements = [key for key, same in both_pickers if not same]
    assert not disagreements, f"the mended serializer read other values for {sorted(set(disagreements))}"


def test_cached_task_clients_go_where_moto_would_send_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that runs a mocked runtime and then a served one (the console's tests do) must not hand
    the served interpreter a client built for the mock: it would reach for AWS itself."""
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

    from local import moto_fixes

    moto_fixes.apply()
    client_for = state_task_service_aws_sdk.boto_client_for
    monkeypatch.setattr(botocore_stubber, "enabled", True)  # a mock intercepts this process's calls
    mocked = client_for("us-east-1", "dynamodb")
    assert client_for("us-east-1", "dynamodb") is mocked  # cached while nothing changes
    monkeypatch.setattr(botocore_stubber, "enabled", False)  # none does: moto serves on MOTO_PORT
    monkeypatch.setenv("MOTO_PORT", "5917")
    served = client_for("us-east-1", "dynamodb")
    assert served is not mocked
    assert served.meta.endpoint_url == "http://localhost:5917"
