"""The order model's stack running locally: the synthesized state machine on moto, the real handlers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.runtime import LocalRuntime


@pytest.fixture(scope="session")
def runtime(order_stack: StackTemplate) -> Iterator[LocalRuntime]:
    with LocalRuntime(order_stack) as running:
        yield running


@pytest.fixture(scope="session")
def events(order_model: Choreography) -> EventFactory:
    return EventFactory(order_model)


@pytest.fixture
def order_id() -> str:
    return f"ORD-{uuid.uuid4().hex[:12]}"
