"""The order model's stack running locally: the synthesized state machine on moto, the real handlers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.gateway import function_url_event
from local.runtime import LocalRuntime
from tests.checks.grants import checked_runtime


@pytest.fixture(scope="module")
def runtime(order_stack: StackTemplate) -> Iterator[LocalRuntime]:
    # One per module: moto's backends are process-wide, so a module that needs a runtime of its own
    # (other SLAs, its own archive) can only open it once the previous module's is closed.
    with checked_runtime(order_stack) as running:
        yield running


@pytest.fixture(scope="session")
def events(order_model: Choreography) -> EventFactory:
    return EventFactory(order_model)


@pytest.fixture
def order_id() -> str:
    return f"ORD-{uuid.uuid4().hex[:12]}"


def status_get(runtime: LocalRuntime, target: str) -> dict[str, Any]:
    """GET `target` (a path and query) of the runtime's status function; the answer must be a 200."""
    function = runtime.function_with_handler("lambdas.status.handler.handler")
    response = runtime.invoke(function, function_url_event("GET", target, {}, b""))
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = json.loads(response["body"])
    return body


def stack_with_outputs(runtime: LocalRuntime, name: str, outputs: dict[str, str]) -> str:
    """A CloudFormation stack on the runtime's moto with these outputs: a deployed monitor stack as the
    command line finds one (the runtime builds its resources without CloudFormation)."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    runtime.session_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name
