"""Shared fixtures: the models, and one synthesis of the whole app per test session (with cdk.json's
context, so the tests see what `cdk synth` produces)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.choreography.model import Choreography, load_model
from local.assembly import StackTemplate, load_stacks, synthesize
from local.model_change import next_version, ship
from stacks.packaging import MODELS_DIR

ORDER_MODEL_PATH = MODELS_DIR / "order_fulfillment.json"
RETURN_MODEL_PATH = MODELS_DIR / "return_refund.json"


@pytest.fixture(scope="session")
def order_model() -> Choreography:
    return load_model(ORDER_MODEL_PATH)


@pytest.fixture(scope="session")
def return_model() -> Choreography:
    return load_model(RETURN_MODEL_PATH)


@pytest.fixture(scope="session")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def stacks(assembly_dir: Path) -> dict[str, StackTemplate]:
    return {stack.name: stack for stack in load_stacks(assembly_dir)}


@pytest.fixture(scope="session")
def order_stack(stacks: dict[str, StackTemplate]) -> StackTemplate:
    return stacks["OrderFulfillmentMonitor"]


SERVICES_BUS = "shop-events"  # a bus the services already publish to, in the same account


@pytest.fixture(scope="session")
def forwarding_stack(tmp_path_factory: pytest.TempPathFactory) -> StackTemplate:
    """The order model's stack deployed beside the services' own bus (setting servicesBus)."""
    outdir = synthesize(tmp_path_factory.mktemp("cdk.out.forwarding"), {"servicesBus": SERVICES_BUS})
    return {stack.name: stack for stack in load_stacks(outdir)}["OrderFulfillmentMonitor"]


@pytest.fixture(scope="session")
def next_order_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The order model's version 2 as the current model, its version 1 kept beside it."""
    first = json.loads(ORDER_MODEL_PATH.read_text(encoding="utf-8"))
    return ship(tmp_path_factory.mktemp("models"), ORDER_MODEL_PATH.name, next_version(first), first)


@pytest.fixture(scope="session")
def next_order_model(next_order_model_path: Path) -> Choreography:
    return load_model(next_order_model_path)


@pytest.fixture(scope="session")
def versioned_stack(tmp_path_factory: pytest.TempPathFactory, next_order_model_path: Path) -> StackTemplate:
    """The order model's stack shipping versions 1 and 2: what `cdk deploy` updates the first to."""
    outdir = synthesize(tmp_path_factory.mktemp("cdk.out.versions"), models_dir=next_order_model_path.parent)
    (stack,) = load_stacks(outdir)
    return stack
