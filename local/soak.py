"""A workload shared out between several local runtimes, each in a process of its own.

moto is CPU-bound and holds the GIL, so one runtime uses one core. Orders are independent of each other,
so each worker process runs the whole system (its own moto, the same template, the real handlers) for
every `shards`-th order of the same seeded workload, and the reports are added up. Malformed events,
which belong to no order, are dealt out in turn.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdas.choreography.model import load_model
from local.assembly import load_stacks
from local.loadrun import per_event, run, transition_summary
from local.runtime import LocalRuntime
from local.workload import Workload, generate


def shard(workload: Workload, index: int, shards: int, correlation_path: tuple[str, ...]) -> Workload:
    orders = workload.orders[index::shards]
    ids = {order.order_id for order in orders}
    arrivals = []
    for number, (at, event) in enumerate(workload.arrivals):
        key = _instance_id(event, correlation_path)
        mine = key in ids if key in workload.expected else number % shards == index
        if mine:
            arrivals.append((at, event))
    return Workload(orders, arrivals, sum(1 for _, e in arrivals if str(e.get("id", "")).startswith("malformed")))


def _instance_id(event: Any, path: tuple[str, ...]) -> Any:
    value = event
    for segment in path:
        value = value.get(segment) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Soak:
    cdk_out: Path  # the synthesized app
    stack_name: str
    model_path: Path
    orders: int
    seed: int
    faults: float  # share of the handlers' AWS calls that fail or crash
    shards: int  # runtimes, one process each


def _run_shard(plan: Soak, index: int) -> dict[str, Any]:
    # The injected faults make the handlers warn at every miss of a metric: the report counts what matters.
    logging.getLogger("lambdas").setLevel(logging.ERROR)
    model = load_model(plan.model_path)
    stack = next(stack for stack in load_stacks(plan.cdk_out) if stack.name == plan.stack_name)
    workload = shard(generate(model, plan.orders, plan.seed), index, plan.shards, model.correlation_path)
    with LocalRuntime(stack) as runtime:
        return run(runtime, workload, faults=plan.faults, seed=plan.seed + index)


def soak(plan: Soak) -> dict[str, Any]:
    """The seeded workload through `plan.shards` runtimes at once; one report for all."""
    started = time.monotonic()
    # spawn, not fork: the parent may hold the CDK's Node.js bridge and its threads from synthesis.
    with ProcessPoolExecutor(plan.shards, mp_context=multiprocessing.get_context("spawn")) as pool:
        reports = list(pool.map(_run_shard, [plan] * plan.shards, range(plan.shards)))
    return merge(reports, time.monotonic() - started, plan.shards)


def merge(reports: list[dict[str, Any]], elapsed: float, shards: int) -> dict[str, Any]:
    counts: Counter[int] = Counter()
    calls: Counter[str] = Counter()
    for report in reports:
        counts.update({int(n): c for n, c in report["transitions"]["counts"].items()})
        calls.update(report["aws_calls"])
    handled = sum(report["events_handled"] for report in reports) or 1
    orders = sum(report["orders"] for report in reports)
    return {
        "orders": orders,
        "shards": shards,
        "expected": dict(sum((Counter(r["expected"]) for r in reports), Counter())),
        "actual": dict(sum((Counter(r["actual"]) for r in reports), Counter())),
        "mismatches": {name: m for r in reports for name, m in r["mismatches"].items()},
        "events": dict(sum((Counter(r["events"]) for r in reports), Counter())),
        "lost": sorted(event_id for r in reports for event_id in r["lost"]),
        "deviations": {
            key: sorted(o for r in reports for o in r["deviations"][key])
            if isinstance(reports[0]["deviations"][key], list)
            else sum(r["deviations"][key] for r in reports)
            for key in reports[0]["deviations"]
        },
        "redriven": sum(r["redriven"] for r in reports),
        "transitions": transition_summary(sorted(counts.elements())),
        "aws_calls": dict(calls),
        "events_handled": handled,
        "aws_calls_per_event": per_event(calls, handled),
        "max_aws_calls_per_event": max((r.get("max_aws_calls_per_event", 0) for r in reports), default=0),
        "invocations_over_two_calls": sum(r["invocations_over_two_calls"] for r in reports),
        "deviation_marks": sum(r["deviation_marks"] for r in reports),
        "faults_injected": dict(sum((Counter(r["faults_injected"]) for r in reports), Counter())),
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(orders / elapsed, 2),
    }
