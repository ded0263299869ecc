"""Shared fixtures: the models, and one synthesis of the whole app per test session (with cdk.json's
context, so the tests see what `cdk synth` produces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdas.choreography.model import Choreography, load_model
from local.assembly import StackTemplate, load_stacks, synthesize
from local.model_change import synthesize_change
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
def order_model_change(tmp_path_factory: pytest.TempPathFactory) -> tuple[StackTemplate, Choreography]:
    """The order model's stack shipping versions 1 and 2 (what `cdk deploy` updates the first to), and 2."""
    return synthesize_change(ORDER_MODEL_PATH, tmp_path_factory.mktemp("model-change"))


@pytest.fixture(scope="session")
def next_order_model(order_model_change: tuple[StackTemplate, Choreography]) -> Choreography:
    return order_model_change[1]


@pytest.fixture(scope="session")
def versioned_stack(order_model_change: tuple[StackTemplate, Choreography]) -> StackTemplate:
    return order_model_change[0]
