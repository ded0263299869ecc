"""The bench's figures as one JSON-ready dict per model, and as the tables it prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.console_reads import REFRESH_SECONDS, ConsoleReads
from bench.costs import LINES, TOTAL, PriceList, Usage, dollars_per_million_orders
from bench.micro import MicroResults
from bench.model_change import GROUPS, ONE_VERSION, READ_ALIKE, READ_DIFFERENTLY, ModelChange
from bench.naive import NaiveRun
from bench.system import SystemRun
from console.overview import TALLIED

PER_ORDER = {
    "lambda_invocations": "Lambda invocations",
    "lambda_gb_seconds": "Lambda GB-s",
    "dynamodb_write_units": "DynamoDB write units",
    "dynamodb_read_units": "DynamoDB read units",
    "eventbridge_events": "EventBridge events",
    "sqs_requests": "SQS requests",
}


def p99(values: Sequence[int | float]) -> float:
    """Nearest rank: a value that occurred, whatever the sample's size."""
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]) if ordered else 0.0


def _design(usage: Usage, transitions: Sequence[int], prices: PriceList) -> dict[str, Any]:
    return {
        "transitions": {
            "median": float(statistics.median(transitions)) if transitions else 0.0,
            "p99": p99(transitions),
            "per_order": usage.per_order(usage.transitions),
            "executions": len(transitions),
        },
        "per_order": {
            "lambda_invocations": usage.per_order(usage.lambda_requests),
            "lambda_gb_seconds": usage.per_order(sum(usage.lambda_gb_seconds.values())),
            "dynamodb_write_units": usage.per_order(usage.write_units),
            "dynamodb_read_units": usage.per_order(usage.read_units),
            "eventbridge_events": usage.per_order(usage.events),
            "sqs_requests": usage.per_order(usage.sqs_requests),
        },
        "dollars_per_million_orders": dollars_per_million_orders(usage, prices),
    }


def figures(system: SystemRun, naive: NaiveRun, prices: PriceList, seed: int, token_bytes: int) -> dict[str, Any]:
    ours = _design(system.usage, list(system.transitions.values()), prices)
    completed = system.completed_transitions
    ours["transitions"]["completed_median"] = float(statistics.median(completed)) if completed else None
    ours["transitions"]["completed_min"] = min(completed, default=None)
    durations = system.event_path_durations_ms
    ours["lambda_ms_per_invocation"] = {
        "mean": system.event_path_duration_ms,
        "median": statistics.median(durations) if durations else 0.0,
        "p99": p99(durations),
    }
    theirs = _design(naive.usage, list(naive.transitions.values()), prices)
    theirs["mistracked_orders"] = naive.mistracked
    report = system.report
    lookups = system.lookups
    ours["dynamodb_requests_per_order"] = {
        f"{source} {operation}": count / len(system.workload.orders)
        for (source, operation), count in sorted(system.requests.items())
    }
    return {
        "model": system.model.name,
        "version": system.model.version,
        "milestones": len(system.model.milestones),
        "orders": len(system.workload.orders),
        "seed": seed,
        "events_published": report["events"]["published"],
        "task_token_bytes": token_bytes,
        "this_design": ours,
        "aws_sample": theirs,
        "ratio": _ratio(theirs["dollars_per_million_orders"][TOTAL], ours["dollars_per_million_orders"][TOTAL]),
        "end_check": {
            "invocations": system.end_check.per_order(system.end_check.lambda_requests),
            "read_units": system.end_check.per_order(system.end_check.read_units),
            "write_units": system.end_check.per_order(system.end_check.write_units),
            "dollars_per_million_orders": dollars_per_million_orders(system.end_check, prices)[TOTAL],
        },
        "status_lookup": {
            "lookups": lookups.orders,
            "read_units": lookups.per_order(lookups.read_units),
            "lambda_gb_seconds": lookups.per_order(sum(lookups.lambda_gb_seconds.values())),
            "dollars_per_million_lookups": dollars_per_million_orders(lookups, prices)[TOTAL],
        },
        "throughput": {
            "elapsed_s": report["elapsed_s"],
            "orders_per_s": report["orders_per_s"],
            "events_per_s": round(report["events"]["published"] / report["elapsed_s"], 2),
        },
        "check": {"mismatches": len(report["mismatches"]), "lost_events": len(report["lost"])},
    }


def _ratio(theirs: float, ours: float) -> float | None:
    return round(theirs / ours, 2) if ours else None


def model_table(result: dict[str, Any]) -> str:
    ours, theirs = result["this_design"], result["aws_sample"]
    width = 42
    lines = [
        f"\n== {result['model']} {result['version']} ({result['milestones']} milestones): {result['orders']} orders, "
        f"seed {result['seed']}, {result['events_published']} events published, task tokens of "
        f"{result['task_token_bytes']} bytes",
        f"{'':<{width}} {'this design':>12} {'AWS sample':>12} {'sample/this':>12}",
    ]

    def row(label: str, mine: float, sample: float, digits: int, ratio: bool = False) -> None:
        quotient = f"{sample / mine:>11.2f}x" if ratio and mine and sample else ""  # no ratio of nothing
        lines.append(f"{label:<{width}} {mine:>12.{digits}f} {sample:>12.{digits}f} {quotient:>12}".rstrip())

    for key in ("median", "p99"):
        row(f"state transitions per order, {key}", ours["transitions"][key], theirs["transitions"][key], 1)
    row(
        "state transitions per order, mean",
        ours["transitions"]["per_order"],
        theirs["transitions"]["per_order"],
        2,
        True,
    )
    for key, label in PER_ORDER.items():
        digits = 4 if key == "lambda_gb_seconds" else 2
        row(f"{label} per order", ours["per_order"][key], theirs["per_order"][key], digits, True)
    for line in LINES:
        row(
            f"$ per 1M orders: {line}",
            ours["dollars_per_million_orders"][line],
            theirs["dollars_per_million_orders"][line],
            2,
        )
    row(
        f"$ per 1M orders: {TOTAL}",
        ours["dollars_per_million_orders"][TOTAL],
        theirs["dollars_per_million_orders"][TOTAL],
        2,
        True,
    )
    started = theirs["transitions"]["executions"]
    completed = ours["transitions"]
    duration = ours["lambda_ms_per_invocation"]
    lookup = result["status_lookup"]
    end = result["end_check"]
    speed = result["throughput"]
    lines += [
        f"completed orders: {completed['completed_median']} transitions (median), {completed['completed_min']} at least",
        f"Lambda duration (measured locally, the estimate for both designs): mean {duration['mean']:.1f} ms, "
        f"median {duration['median']:.1f} ms, p99 {duration['p99']:.1f} ms per invocation",
        f"orders the AWS sample would lose or fail (events repeated or out of model order): "
        f"{theirs['mistracked_orders']} of {started} started ({_share(theirs['mistracked_orders'], started)}), not in its cost",
        f"of which the check at each execution's end: {end['invocations']:.2f} invocations, "
        f"{end['read_units']:.2f} read units, {end['write_units']:.2f} write units per order, "
        f"${end['dollars_per_million_orders']:.2f} per 1M orders",
        f"status lookup GET /orders/{{id}} (not in the totals): {lookup['read_units']:.2f} read units, "
        f"{lookup['lambda_gb_seconds']:.5f} GB-s, ${lookup['dollars_per_million_lookups']:.2f} per 1M lookups",
        f"end-to-end local throughput: {speed['orders_per_s']:.2f} orders/s, {speed['events_per_s']:.2f} events/s "
        f"({speed['elapsed_s']:.1f} s); mismatches {result['check']['mismatches']}, lost events {result['check']['lost_events']}",
    ]
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def micro_table(micro: MicroResults, model: str) -> str:
    lines = [
        f"\n== handler micro-benchmarks ({model}; stubbed AWS clients; {micro.events} events x {micro.rounds} rounds, "
        f"median of rounds)",
        f"correlator, whole handler (Powertools included)  {micro.correlator_handler_cpu_us:>9.0f} us CPU per event",
        f"correlator, correlation only (classify, record)  {micro.correlator_logic_cpu_us:>9.0f} us CPU per event",
        f"status, GET /orders/{{id}}                         {micro.status_handler_us:>9.0f} us per request "
        f"({micro.status_handler_cpu_us:.0f} us CPU)",
    ]
    for module, cold in micro.cold_starts_ms.items():
        lines.append(
            f"cold start of {module:<28} {cold['first_event_ms']:>9.0f} ms to its first event, "
            f"{cold['import_ms']:.0f} ms of it importing (fresh interpreters, median of {micro.import_runs})"
        )
    return "\n".join(lines)


def soak_table(report: dict[str, Any], faults: float) -> str:
    events = report["events"]
    calls = ", ".join(f"{name} {count}" for name, count in report["aws_calls_per_event"].items())
    return "\n".join(
        [
            f"\n== soak: {report['orders']} orders, {events['published']} events (shuffled, duplicated, malformed), "
            f"{faults:.0%} of the handlers' AWS calls failing, {report['shards']} runtimes side by side",
            f"local runtime, whole workload                   {report['elapsed_s']:>9.1f} s "
            f"({report['orders_per_s']:.1f} orders/s)",
            f"mismatches / lost events / redriven            {len(report['mismatches']):>5} / {len(report['lost'])} / "
            f"{report['redriven']}",
            f"correlator AWS calls, most in one invocation    {report['max_aws_calls_per_event']:>9} "
            f"(over two: {report['invocations_over_two_calls']} invocations; deviation marks: "
            f"{report['deviation_marks']})",
            f"correlator AWS calls per event, mean            {calls}",
        ]
    )


def console_table(reads: ConsoleReads, model: str) -> str:
    def calls(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{operation} {count}" for operation, count in sorted(counts.items()))

    per_hour = ", ".join(f"{service} {usd:.4f}" for service, usd in reads.usd_per_hour.items())
    return "\n".join(
        [
            f"\n== console overview left open ({model}; {reads.stuck} stuck and {reads.failed} failed orders, "
            f"more than a listing's page of {TALLIED})",
            f"AWS calls, page load                            {calls(reads.page_load)}",
            f"AWS calls, each refresh (every {REFRESH_SECONDS} s)             {calls(reads.refresh)}",
            f"status function, each refresh                   {reads.refresh_invocations} invocations, "
            f"{reads.refresh_read_units:.1f} DynamoDB read units",
            f"USD per hour left open                          {sum(reads.usd_per_hour.values()):.4f} ({per_hour})",
        ]
    )


def model_change_table(change: ModelChange) -> str:
    first, second = change.versions

    def calls(kind: str) -> str:
        made = change.calls_per_delivery(kind)
        return ", ".join(f"{operation} {count:.2f}" for operation, count in made.items()) or "none"

    lines = [
        f"\n== a model change with orders open ({change.model} {first} to {second}; {change.orders} orders each "
        "before, across and after it, every event on time)",
        f"events both versions read alike                 {', '.join(change.common_events)}",
        f"events they read differently                    {', '.join(change.differing_events)}",
        "correlator AWS calls per delivery (deliveries):",
    ]
    for kind in (ONE_VERSION, READ_ALIKE, READ_DIFFERENTLY):
        lines.append(
            f"  {kind:<46}{calls(kind)} ({change.deliveries.get(kind, 0)}); "
            f"{change.read_units_per_delivery(kind):.2f} read units"
        )
    lines.append(
        "billed transitions per completed order          "
        + ", ".join(f"{group} {change.transitions[group]:.2f}" for group in GROUPS)
        + f" (before and across on {first}, after on {second})"
    )
    return "\n".join(lines)
