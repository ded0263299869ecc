"""`make demo`: the generated state machine, then a few orders through the whole system on this machine.

Each scenario is one order whose events arrive in a telling way: in order, all at once and backwards,
twice each, with a failure on time and a failure that arrives before its milestone. The summary is
read back from the table and the executions, not from what the demo sent.
"""

from __future__ import annotations

import argparse
import functools
import json
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cli.picture import write_picture
from cli.render import listing_view, order_view
from lambdas.choreography.model import Choreography
from lambdas.status.logic import NOT_STARTED
from local.assembly import StackTemplate, ensure_synthesized, load_stacks, with_slas
from local.events import EventFactory
from local.gateway import function_url_event
from local.loadrun import run as run_workload
from local.loadrun import status_request
from local.models import UnknownModel, chosen_models
from local.runtime import LocalRuntime
from local.workload import Rates, generate
from stacks.names import stack_name
from stacks.packaging import MODELS_DIR

Scenario = Callable[[EventFactory, str], list[dict[str, Any]]]
IN_ORDER = "in order"
# Enough for the order model's workload to reach every final state (completed, failed, stuck, never
# placed) with seed 1, in about a minute for the whole demo; --orders runs any size.
DEFAULT_ORDERS = 100


def describe_definition(definition: dict[str, Any]) -> str:
    lines = [f"StartAt: {definition['StartAt']}"]
    for name, state in definition["States"].items():
        exits = [f"next {state['Next']}"] if "Next" in state else (["end"] if state.get("End") else [])
        exits += [f"{'/'.join(c['ErrorEquals'])} -> {c['Next']}" for c in state.get("Catch", [])]
        timeout = f", timeout {state['TimeoutSeconds']} s" if "TimeoutSeconds" in state else ""
        lines.append(f"  {name:<26} {state['Type']}{timeout}: {'; '.join(exits)}")
    return "\n".join(lines)


def _scenarios(model: Choreography) -> dict[str, Scenario]:
    first_failing = next((m for m in model.milestones if m.failure), None)
    scenarios: dict[str, Scenario] = {
        IN_ORDER: lambda f, i: f.lifecycle(i),
        "backwards": lambda f, i: list(reversed(f.lifecycle(i))),
        "every event twice": lambda f, i: [e for e in f.lifecycle(i) for _ in (0, 1)],
    }
    if first_failing:
        scenarios["failure on time"] = lambda f, i: f.lifecycle(i, failure_at=first_failing.name)
        scenarios["failure first"] = lambda f, i: list(reversed(f.lifecycle(i, failure_at=first_failing.name)))
    return scenarios


def draw(runtime: LocalRuntime, model: Choreography, orders: Mapping[str, str], out: Path) -> None:
    """One picture of the execution graph per order, labelled, as the console would show it."""
    print("\n  pictures:")
    for order_id, label in orders.items():
        title = f"{order_id} ({label}): {runtime.execution_status(order_id)}"
        path = write_picture(
            out / model.name / f"{order_id}.svg", runtime.definition, runtime.history(order_id), title=title
        )
        print(f"    {label:<20} {path}")


def _await_milestone_of(runtime: LocalRuntime, model: Choreography, event: dict[str, Any]) -> None:
    """Hold an event back until the execution waits for it, as when services take their time."""
    milestone = model.roles[event["detail-type"]].milestone
    if milestone is None:
        return
    instance_id: Any = event
    for segment in model.correlation_path:
        instance_id = instance_id[segment]
    runtime.wait_until_waiting(instance_id, milestone.name)


def run(stack: StackTemplate, model: Choreography, out: Path) -> None:
    print(f"\n== {model.name} {model.version}: state machine generated from {MODELS_DIR.name}/")
    with LocalRuntime(stack) as runtime:
        print(describe_definition(runtime.definition))
        factory = EventFactory(model)
        orders: dict[str, str] = {}
        for number, (label, scenario) in enumerate(_scenarios(model).items()):
            order_id = f"DEMO-{number + 1}"
            orders[order_id] = label
            for event in scenario(factory, order_id):
                if label == IN_ORDER:
                    _await_milestone_of(runtime, model, event)
                runtime.deliver(event)
        statuses = runtime.wait_for_executions(list(orders), timeout_s=60)
        print(f"\n{'order':<8} {'scenario':<20} {'execution':<10} states entered")
        for order_id, label in orders.items():
            print(f"{order_id:<8} {label:<20} {statuses[order_id]:<10} {' > '.join(runtime.states_entered(order_id))}")
        sample = next(iter(orders))
        status = runtime.invoke(
            runtime.function_with_handler("lambdas.status.handler.handler"),
            status_request(f"/orders/{sample}"),
        )
        print(f"\nGET /orders/{sample} ->")
        print(json.dumps(json.loads(status["body"]), indent=2))
        draw(runtime, model, orders, out)


STUCK_SLA_SECONDS = 1


def stuck(stack: StackTemplate, model: Choreography, out: Path) -> None:
    """Two orders that stall, with every SLA cut to a second: one whose events come late, one whose
    never come. Shows the stuck notices the alerts topic received and the STUCK listing."""
    print(f"\n== {model.name}: stuck orders (every SLA cut to {STUCK_SLA_SECONDS} s for the demo)")
    with LocalRuntime(with_slas(stack, model, STUCK_SLA_SECONDS)) as runtime:
        factory = EventFactory(model)
        late, never = "STUCK-LATE", "STUCK-NEVER"
        placed, first, *rest = factory.lifecycle(late)
        runtime.deliver(placed)
        runtime.deliver(first)
        runtime.deliver(factory.event(model.start_event, never))
        status = runtime.function_with_handler("lambdas.status.handler.handler")
        time.sleep(STUCK_SLA_SECONDS * 2.5)
        listing = json.loads(runtime.invoke(status, function_url_event("GET", "/orders?status=STUCK", {}, b""))["body"])
        print(textwrap.indent(listing_view(listing), "  "))
        for event in rest:  # the late order's events finally come
            runtime.deliver(event)
        statuses = runtime.wait_for_executions([late, never], timeout_s=60)
        notices = runtime.platform.notices("AlertingStuckRule")
        print(f"\n  {model.stuck_event} events the alerts topic received: {len(notices)}")
        for notice in notices:
            detail = notice["detail"]
            key = model.correlation_path[-1]
            print(
                f"    {detail[key]:<12} {detail['milestone']:<12} escalation {detail['escalation']}/{detail['escalations']}"
                f"  waiting since {detail['waitingSince']}  SLA {detail['slaSeconds']} s"
            )
        print(f"\n  {late}: {statuses[late]}, {never}: {statuses[never]}")
        draw(runtime, model, {late: "stuck, then late", never: "stuck, timed out"}, out)


def workload(stack: StackTemplate, model: Choreography, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n== {model.name}: {args.orders} orders, seed {args.seed}, faults {args.faults:.0%}")
    load = generate(model, args.orders, args.seed, Rates(out_of_order=args.out_of_order))
    with LocalRuntime(stack) as runtime:
        started = time.monotonic()

        def progress(state: dict[str, Any]) -> None:
            if state["published"] % 100 and state["published"] != state["of"]:
                return
            rate = state["published"] / max(state["elapsed_s"], 1e-6)
            orders = ", ".join(
                f"{status.lower()} {count}" for status, count in sorted(runtime.execution_counts().items())
            )
            print(
                f"\r  events {state['published']:>6}/{state['of']}  {rate:6.1f} events/s  orders: {orders}   ",
                end="",
                flush=True,
            )

        report = run_workload(runtime, load, faults=args.faults, seed=args.seed, progress=progress)
        print(f"\r  {report['events']['published']} events in {time.monotonic() - started:.1f} s{' ' * 20}")
        quarantine = next(name for name in runtime.names if name.startswith("Quarantine"))
        reasons = Counter(message["reason"].split(" (")[0] for message in runtime.queue_messages(quarantine))
        sample = next(order.order_id for order in load.orders if order.expected == "COMPLETED")
        timeline = json.loads(
            runtime.invoke(
                runtime.function_with_handler("lambdas.status.handler.handler"), status_request(f"/orders/{sample}")
            )["body"]
        )
        # One order of each final state the workload reached, drawn.
        by_state = {
            order.expected.split(" ")[0]: order.order_id
            for order in reversed(load.orders)
            if order.expected != NOT_STARTED  # events without a start: no execution to draw
        }
        draw(runtime, model, {order_id: state.lower() for state, order_id in sorted(by_state.items())}, args.out)
    print(f"\n  {'final state':<12} {'expected':>8} {'actual':>8}")
    for state in sorted(set(report["expected"]) | set(report["actual"])):
        print(f"  {state:<12} {report['expected'].get(state, 0):>8} {report['actual'].get(state, 0):>8}")
    print(f"  mismatches {len(report['mismatches'])}, lost events {len(report['lost'])}, redriven {report['redriven']}")
    print(f"  events: {report['events']}")
    deviations = report["deviations"]
    print(
        f"  services out of order: planted {deviations['planted']}, found {deviations['found']} "
        f"(missed {len(deviations['missed'])}, invented {len(deviations['invented'])}); "
        f"listed {deviations['listed']} (missed {len(deviations['listed_missed'])}, "
        f"invented {len(deviations['listed_invented'])}; orders still open {deviations['open_listed']} "
        f"of {deviations['open']}); OutOfOrder metrics {deviations['metric']}"
    )
    print(
        f"  state transitions per completed order: median {report['transitions']['median']}, max {report['transitions']['max']}"
    )
    print(f"  AWS calls per event: {report['aws_calls_per_event']}")
    print(f"  throughput: {report['orders_per_s']} orders/s")
    stuck = sorted((o.order_id, o.expected) for o in load.orders if o.expected.startswith("RUNNING"))
    print(
        f"  stuck orders ({len(stuck)}): " + ", ".join(f"{name} {state.split(' at ')[1]}" for name, state in stuck[:8])
    )
    print("  quarantined, by reason:")
    for reason, count in reasons.most_common(6):
        print(f"    {count:>4}  {reason}")
    print(f"  timeline of {sample}:")
    print(textwrap.indent(order_view(timeline), "    "))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--model", help="run only this model (its name, e.g. order-fulfillment)")
    parser.add_argument(
        "--orders",
        type=int,
        default=DEFAULT_ORDERS,
        help=f"orders in each model's workload (default {DEFAULT_ORDERS}; 0: none)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload")
    parser.add_argument("--faults", type=float, default=0.0, help="share of the handlers' AWS calls that fail or crash")
    parser.add_argument(
        "--out-of-order",
        type=float,
        default=Rates.out_of_order,
        help=f"share of orders where a service acts before the milestone it follows (default {Rates.out_of_order})",
    )
    parser.add_argument("--json", help="write the workload's report to this file")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for the pictures of orders")
    args = parser.parse_args(argv)
    if not 0 <= args.faults < 1 or not 0 <= args.out_of_order <= 1:
        parser.error("--faults is a share between 0 and 1, --out-of-order one from 0 to 1")
    try:
        models = chosen_models(args.model)
    except UnknownModel as unknown:
        parser.error(str(unknown))
    started = time.monotonic()
    stacks = {stack.name: stack for stack in load_stacks(ensure_synthesized())}
    reports = {}
    timings: list[tuple[str, float]] = []

    def timed(label: str, part: Callable[[], Any]) -> Any:
        part_started = time.monotonic()
        result = part()
        timings.append((label, time.monotonic() - part_started))
        print(f"\n  ({label}: {timings[-1][1]:.1f} s)")
        return result

    for _, model in models:
        stack = stacks[stack_name(model)]
        timed(f"{model.name}, scenarios", functools.partial(run, stack, model, args.out))
        timed(f"{model.name}, stuck orders", functools.partial(stuck, stack, model, args.out))
        if args.orders:
            part = functools.partial(workload, stack, model, args)
            reports[model.name] = timed(f"{model.name}, {args.orders} orders", part)
    print(f"\n== demo done in {time.monotonic() - started:.1f} s")
    for label, seconds in timings:
        print(f"  {label:<40} {seconds:6.1f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as report_file:
            json.dump(reports if len(reports) != 1 else next(iter(reports.values())), report_file, indent=2)
        print(f"\nreport written to {args.json}")


if __name__ == "__main__":
    main()
