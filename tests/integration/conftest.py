"""The order model's stack running locally: the synthesized state machine on moto, the real handlers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
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
