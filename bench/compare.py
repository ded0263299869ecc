"""One model's comparison: the seeded workload through this design (run and metered) and through the AWS
sample's (computed), priced. A module of its own so that a worker process can import and run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import naive, system
from bench.costs import load_prices
from bench.report import figures
from lambdas.choreography.model import load_model
from local.assembly import load_stacks
from local.workload import generate
from stacks.names import stack_name


def compare(model_path: Path, *, orders: int, seed: int, token_bytes: int, prices_path: Path) -> dict[str, Any]:
    """The model's figures (JSON-ready), from the synthesized assembly in cdk.out."""
    model = load_model(model_path)
    stack = next(stack for stack in load_stacks() if stack.name == stack_name(model))
    workload = generate(model, orders, seed)
    measured = system.run(stack, model, workload, token_bytes)
    computed = naive.run(
        model,
        workload,
        execution_arn=measured.execution_arn,
        duration_ms=measured.event_path_duration_ms,
        token_bytes=token_bytes,
    )
    return figures(measured, computed, load_prices(prices_path), seed, token_bytes)
