"""`make bench`'s program on a tiny workload, run as the Makefile runs it, in a process of its own: the
table holds the figures, and the figures agree with the model, the workload and the prices file. No
timing is asserted: only that times were measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.costs import LINES, TOTAL, load_prices
from lambdas.choreography.model import Choreography
from local.assembly import DEFAULT_OUTDIR, load_stacks
from local.model_change import NEXT_VERSION
from local.workload import generate
from stacks.names import stack_name
from stacks.packaging import PROJECT_ROOT

ORDERS, SEED = 6, 3
SOAK_ORDERS = 12
CONSOLE_ORDERS = 2
CHANGE_ORDERS = 2


def test_bench_prints_the_cost_table_and_its_figures_add_up(return_model: Choreography, tmp_path: Path) -> None:
    figures_path = tmp_path / "bench.json"
    command = [
        *("-m", "bench", "--model", return_model.name, "--orders", str(ORDERS), "--seed", str(SEED)),
        *("--rounds", "1", "--import-runs", "1", "--soak-orders", str(SOAK_ORDERS), "--json", str(figures_path)),
        *("--console-orders", str(CONSOLE_ORDERS), "--change-orders", str(CHANGE_ORDERS)),
    ]
    result = subprocess.run(
        [sys.executable, *command], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    document = json.loads(figures_path.read_text())
    assert document["command"] == f"python {' '.join(command)}"
    (figures,) = document["models"]
    ours, theirs = figures["this_design"], figures["aws_sample"]
    milestones = len(return_model.milestones)

    # The workload is the seeded one, and the system tracked it without a mismatch or a lost event.
    workload = generate(return_model, ORDERS, SEED)
    assert (figures["model"], figures["orders"], figures["milestones"]) == (return_model.name, ORDERS, milestones)
    assert figures["events_published"] == len(workload.arrivals)
    assert figures["check"] == {"mismatches": 0, "lost_events": 0}

    # Transitions, counted from the histories: a completed order enters one state per milestone and the
    # end at least; the sample's, a Task and a Choice per milestone and its end state.
    assert ours["transitions"]["completed_min"] >= milestones + 1
    assert ours["transitions"]["executions"] == theirs["transitions"]["executions"]
    completed = sum(state == "COMPLETED" for state in workload.expected.values())
    if completed:
        assert theirs["transitions"]["p99"] == 2 * milestones + 1
    assert theirs["transitions"]["per_order"] > ours["transitions"]["per_order"]
    # Every delivery the sample's rules route invokes one of its functions; the correlator sees them all.
    assert ours["per_order"]["lambda_invocations"] >= theirs["per_order"]["lambda_invocations"] > 0
    assert ours["per_order"]["dynamodb_write_units"] > 0
    assert ours["per_order"]["eventbridge_events"] == theirs["per_order"]["eventbridge_events"]

    # The check at each execution's end: one invocation and one Query per ended order, in the totals.
    ended = sum(not state.startswith(("RUNNING", "NOT_STARTED")) for state in workload.expected.values())
    end = figures["end_check"]
    assert end["invocations"] == pytest.approx(ended / ORDERS)
    assert (end["read_units"] > 0) == (ended > 0)
    assert end["dollars_per_million_orders"] < ours["dollars_per_million_orders"][TOTAL]
    assert f"of which the check at each execution's end: {end['invocations']:.2f} invocations" in out

    # Dollars are the per-order figures at the prices file's prices.
    prices = load_prices()
    for design in (ours, theirs):
        dollars = design["dollars_per_million_orders"]
        per_order = design["per_order"]
        transitions_price = prices["stepfunctions_standard_transitions"]
        assert dollars["Step Functions"] == pytest.approx(
            transitions_price.of(design["transitions"]["per_order"] * 1e6)
        )
        assert dollars["EventBridge"] == pytest.approx(
            prices["eventbridge_custom_events"].of(per_order["eventbridge_events"] * 1e6)
        )
        assert dollars["DynamoDB writes"] == pytest.approx(
            prices["dynamodb_write_request_units"].of(per_order["dynamodb_write_units"] * 1e6)
        )
        assert dollars[TOTAL] == pytest.approx(sum(dollars[line] for line in LINES))
    assert figures["ratio"] == round(
        theirs["dollars_per_million_orders"][TOTAL] / ours["dollars_per_million_orders"][TOTAL], 2
    )

    # The printed table holds the same figures.
    assert f"== {return_model.name} {return_model.version}" in out
    total_row = next(line for line in out.splitlines() if line.startswith(f"$ per 1M orders: {TOTAL}"))
    assert total_row.split()[-3:] == [
        f"{ours['dollars_per_million_orders'][TOTAL]:.2f}",
        f"{theirs['dollars_per_million_orders'][TOTAL]:.2f}",
        f"{figures['ratio']:.2f}x",
    ]
    assert f"{ours['transitions']['median']:.1f}" in out
    assert f"{figures['throughput']['orders_per_s']:.2f} orders/s" in out

    # The soak: every order of the seeded workload, shared out between the runtimes, none lost, and no
    # correlator invocation over two AWS calls, faults and retries included, but one that marks a
    # deviation it found (a third call, only then).
    soak = document["soak"]
    assert soak["orders"] == SOAK_ORDERS
    assert soak["events"]["published"] == len(generate(return_model, SOAK_ORDERS, SEED).arrivals)
    assert (soak["mismatches"], soak["lost"]) == ({}, [])
    assert 1 <= soak["max_aws_calls_per_event"] <= 3
    assert soak["invocations_over_two_calls"] <= soak["deviation_marks"]
    assert f"== soak: {SOAK_ORDERS} orders, {soak['events']['published']} events" in out

    # The console's overview: what a page load and a refresh call, none of it a write, and what an hour
    # of refreshes costs at the prices file's prices.
    console = document["console"]
    assert (console["stuck"], console["failed"]) == (CONSOLE_ORDERS, CONSOLE_ORDERS)
    listings = 2  # STUCK and FAILED, one status invocation and one Query each
    queues = 3
    assert console["page_load"] == {
        "DescribeStateMachine": 1,  # the machine's creation: the counts' window
        "GetMetricData": 1,  # the counts, kept for a minute
        "Query": listings,
        "GetQueueAttributes": queues,
    }
    assert console["refresh"] == {"Query": listings, "GetQueueAttributes": queues}
    assert console["refresh_invocations"] == listings
    assert console["refresh_read_units"] > 0
    assert console["usd_per_hour"]["SQS"] == pytest.approx(prices["sqs_requests"].of(queues * 1200))
    assert console["usd_per_hour"]["CloudWatch"] == pytest.approx(prices["cloudwatch_getmetricdata_metrics"].of(5 * 60))
    assert f"USD per hour left open                          {sum(console['usd_per_hour'].values()):.4f}" in out

    # The model change: a read of the order's version for exactly the events the versions read
    # differently, and nothing more for any other event, nor a transition more on version 1's graph.
    change = document["model_change"]
    assert change["versions"] == [return_model.version, NEXT_VERSION]
    events_per_order = 1 + milestones
    assert change["deliveries"]["one version shipped"] == CHANGE_ORDERS * (events_per_order + 3)
    assert sum(change["deliveries"].values()) == CHANGE_ORDERS * (2 * events_per_order + events_per_order + 1)
    calls = change["calls"]
    assert calls["two shipped, read differently"]["GetItem"] == change["deliveries"]["two shipped, read differently"]
    assert "GetItem" not in calls["one version shipped"]
    assert "GetItem" not in calls.get("two shipped, read alike", {})
    assert change["read_units"]["one version shipped"] == 0
    assert change["transitions"]["across"] == change["transitions"]["before"]
    assert change["transitions"]["after"] == change["transitions"]["before"] + 1  # one milestone more
    assert f"== a model change with orders open ({return_model.name} {return_model.version} to {NEXT_VERSION}" in out

    # Micro-benchmarks: measured, one cold-start import per function of the stack.
    micro = document["micro"]
    stack = next(s for s in load_stacks(DEFAULT_OUTDIR) if s.name == stack_name(return_model))  # the bench's own
    handlers = {str(p["Handler"]).rsplit(".", 1)[0] for _, p in stack.of_type("AWS::Lambda::Function")}
    assert set(micro["cold_starts_ms"]) == handlers
    assert all(0 < cold["import_ms"] < cold["first_event_ms"] for cold in micro["cold_starts_ms"].values())
    assert micro["correlator_handler_cpu_us"] > 0
    assert micro["status_handler_us"] > 0
    assert all(f"cold start of {module}" in out for module in handlers)
