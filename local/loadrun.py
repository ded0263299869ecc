"""Run a workload through the local runtime and report what the system did, read back through the status
function and the execution histories, against what the scenario expects."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from lambdas.choreography import table
from lambdas.choreography.metrics import OUT_OF_ORDER
from local.calls import Call
from local.gateway import function_url_event
from local.runtime import LocalRuntime
from local.workload import NOT_STARTED, Workload

Progress = Callable[[dict[str, Any]], None]


def status_request(path: str) -> dict[str, Any]:
    """A GET of the status function's URL, as Lambda hands it to the handler."""
    return function_url_event("GET", path, {}, b"")


def run(
    runtime: LocalRuntime,
    workload: Workload,
    *,
    faults: float = 0.0,
    seed: int = 0,
    progress: Progress | None = None,
    bus: str | None = None,
) -> dict[str, Any]:
    """`bus`: publish on the services' own bus (a rule forwards to the monitor's), not the monitor's."""
    started = time.monotonic()
    made_from = len(runtime.calls.made)
    correlator = runtime.correlator.logical_id
    runtime.calls_per_invocation.pop(correlator, None)
    accepted_before, outcomes_before = runtime.accepted_event_ids(), Counter(runtime.correlator_outcomes())
    metrics_from = len(runtime.metrics_output)
    runtime.calls.inject(faults, seed)
    published = 0
    try:
        for start in range(0, len(workload.arrivals), 10):
            batch = [event for _, event in workload.arrivals[start : start + 10]]
            runtime.publish(batch, bus)
            published += len(batch)
            if progress:
                progress(
                    {"published": published, "of": len(workload.arrivals), "elapsed_s": time.monotonic() - started}
                )
    finally:
        runtime.calls.inject(0.0, seed)
    redriven = runtime.redrive_dead_letters()
    # The correlator's alone: the end check's calls are its own (one Query per ended order; BENCHMARKS.md).
    made = [c for c in runtime.calls.made[made_from:] if c.function == correlator]
    correlator_calls = Counter(c.operation for c in made)
    deviation_marks = sum(1 for c in made if c.operation == "UpdateItem" and _is_mark(c))
    per_invocation = runtime.calls_per_invocation.get(correlator, Counter())
    settled = runtime.wait_for_executions(
        [n for n, e in workload.expected.items() if e.startswith(("COMPLETED", "FAILED"))], timeout_s=120
    )
    observed = {order.order_id: _observed(runtime, order.order_id) for order in workload.orders}
    actual = {order_id: state for order_id, (state, _) in observed.items()}
    deviations = {order_id: found for order_id, (_, found) in observed.items()}
    ours = {order.order_id for order in workload.orders}  # the runtime may hold earlier runs' orders
    listed = {order_id: pairs for order_id, pairs in listed_deviations(runtime).items() if order_id in ours}
    elapsed = time.monotonic() - started
    accepted = runtime.accepted_event_ids() - accepted_before
    outcomes = Counter(runtime.correlator_outcomes()) - outcomes_before
    return _report(
        runtime,
        workload,
        actual=actual,
        deviations=deviations,
        listed=listed,
        ended={name for name, status in settled.items() if status != "RUNNING"},
        out_of_order_metrics=_out_of_order_metrics(runtime.metrics_output[metrics_from:]),
        settled=settled,
        calls=correlator_calls,
        per_invocation=per_invocation,
        deviation_marks=deviation_marks,
        accepted_ids=accepted,
        outcomes=outcomes,
        published=published,
        redriven=redriven,
        elapsed=elapsed,
    )


def _observed(runtime: LocalRuntime, order_id: str) -> tuple[str, set[tuple[str, str]]]:
    """Where the status function says the order is, and the deviations it found in it."""
    response = runtime.invoke(
        runtime.function_with_handler("lambdas.status.handler.handler"), status_request(f"/orders/{order_id}")
    )
    body = json.loads(response["body"])
    found = {(d["milestone"], d["follows"]) for d in body.get("deviations", [])}
    status = body.get("status", f"HTTP {response['statusCode']}")
    if status == table.FAILED:
        return f"FAILED at {body.get('failedAt')}", found
    if status == table.RUNNING:
        return f"RUNNING at {body.get('awaiting')}", found
    return str(status), found


def listed_deviations(runtime: LocalRuntime, limit: int = 100) -> dict[str, set[tuple[str, str]]]:
    """Every order the status function's deviation listing holds, with its pairs, page by page."""
    status = runtime.function_with_handler("lambdas.status.handler.handler")
    listed: dict[str, set[tuple[str, str]]] = {}
    target = f"/deviations?limit={limit}"
    while True:
        page = json.loads(runtime.invoke(status, status_request(target))["body"])
        for order in page["orders"]:
            listed[order[page["key"]]] = {(pair["milestone"], pair["follows"]) for pair in order["outOfOrder"]}
        if "next" not in page:
            return listed
        target = f"/deviations?limit={limit}&next={page['next']}"


def _is_mark(update: Call) -> bool:
    """An UpdateItem that writes a deviation mark (lambdas/conformance/marks.py)."""
    return table.OUT_OF_ORDER in update.parameters["UpdateExpression"]


def _out_of_order_metrics(records: list[dict[str, Any]]) -> int:
    """OutOfOrder counts emitted per milestone pair, by the correlator or the end check (EMF holds a
    metric's values as a list)."""
    return sum(len(record[OUT_OF_ORDER]) for record in records if OUT_OF_ORDER in record and "follows" in record)


def deviation_check(
    workload: Workload,
    found: Mapping[str, set[tuple[str, str]]],
    metrics: int,
    listed: Mapping[str, set[tuple[str, str]]],
    ended: set[str],
) -> dict[str, Any]:
    """The deviations the status answers found, and the listing holds, against the ones the workload
    planted. An order that never started has no answer to find one in, so its planted one is not
    expected. The listing must hold every planted deviation of an ended order (the end check marks it);
    of an order still open, those the correlator could measure (`open_listed` of `open`)."""
    planted = {
        order.order_id: {order.planted} for order in workload.orders if order.planted and order.expected != NOT_STARTED
    }
    still_open = [o for o in planted if o not in ended]
    return {
        "planted": sum(len(pairs) for pairs in planted.values()),
        "found": sum(len(pairs) for pairs in found.values()),
        "missed": sorted(o for o, pairs in planted.items() if not pairs <= found.get(o, set())),
        "invented": sorted(o for o, pairs in found.items() if not pairs <= planted.get(o, set())),
        "listed": sum(len(pairs) for pairs in listed.values()),
        "listed_missed": sorted(o for o, p in planted.items() if o in ended and not p <= listed.get(o, set())),
        "listed_invented": sorted(o for o, pairs in listed.items() if not pairs <= planted.get(o, set())),
        "open": len(still_open),
        "open_listed": sum(1 for o in still_open if o in listed),
        "metric": metrics,  # each pair once: by the correlator, or else by the end check
    }


def _report(
    runtime: LocalRuntime,
    workload: Workload,
    *,
    actual: dict[str, str],
    deviations: dict[str, set[tuple[str, str]]],
    listed: dict[str, set[tuple[str, str]]],
    ended: set[str],
    out_of_order_metrics: int,
    settled: dict[str, str],
    calls: dict[str, int],
    per_invocation: Counter[int],
    deviation_marks: int,
    accepted_ids: set[str],
    outcomes: Counter[str],
    published: int,
    redriven: int,
    elapsed: float,
) -> dict[str, Any]:
    expected = workload.expected
    lost = sorted(_lost(runtime, workload, accepted_ids))
    transitions = [
        len([e for e in runtime.history(name) if e["type"].endswith("StateEntered")])
        for name, status in settled.items()
        if status == "SUCCEEDED"
    ]
    events_handled = sum(outcomes.values()) or 1
    return {
        "orders": len(workload.orders),
        "expected": dict(Counter(state.split(" at ")[0] for state in expected.values())),
        "actual": dict(Counter(state.split(" at ")[0] for state in actual.values())),
        "mismatches": {
            name: {"expected": expected[name], "actual": actual[name]}
            for name in expected
            if expected[name] != actual[name]
        },
        "events": {
            "published": published,
            "accepted": len(accepted_ids),
            "duplicates": outcomes.get("duplicate", 0) + outcomes.get("start-duplicate", 0),
            "quarantined": outcomes.get("quarantined", 0),
        },
        "lost": lost,
        "deviations": deviation_check(workload, deviations, out_of_order_metrics, listed, ended),
        "redriven": redriven,
        "transitions": transition_summary(transitions),
        "aws_calls": dict(calls),
        "events_handled": events_handled,
        "aws_calls_per_event": per_event(calls, events_handled),
        "max_aws_calls_per_event": max(per_invocation, default=0),  # of any one correlator invocation
        # A third call only to mark a deviation found (a choreography's bug): none on the common path.
        "invocations_over_two_calls": sum(count for calls, count in per_invocation.items() if calls > 2),
        "deviation_marks": deviation_marks,
        "faults_injected": dict(runtime.calls.faults),
        "elapsed_s": round(elapsed, 2),
        "orders_per_s": round(len(workload.orders) / elapsed, 2),
    }


def transition_summary(transitions: list[int]) -> dict[str, Any]:
    """Median and most of the completed orders' transitions, and how many orders had each count."""
    return {
        "median": statistics.median(transitions) if transitions else None,
        "max": max(transitions, default=None),
        "counts": dict(Counter(transitions)),  # transitions -> completed orders with that many
    }


def per_event(calls: Mapping[str, int], events_handled: int) -> dict[str, float]:
    return {name: round(count / events_handled, 3) for name, count in sorted(calls.items())}


def _lost(runtime: LocalRuntime, workload: Workload, accepted_ids: set[str]) -> set[str]:
    """Accepted events that no record of their order holds."""
    recorded: set[str] = set()
    for order in workload.orders:
        for item in runtime.items(order.order_id).values():
            recorded |= set(item.get(table.EVENT_IDS, ()))
    return accepted_ids - recorded
