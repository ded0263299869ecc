"""`make demo`: the generated state machine, then a few orders through the whole system on this machine.

Each scenario is one order whose events arrive in a telling way: in order, all at once and backwards,
twice each, with a failure on time and a failure that arrives before its milestone. The summary is
read back from the table and the executions, not from what the demo sent.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from lambdas.choreography.model import Choreography, load_model
from local.assembly import StackTemplate, ensure_synthesized, load_stacks
from local.events import EventFactory
from local.runtime import LocalRuntime
from stacks.app_builder import MODELS_DIR
from stacks.monitor_stack import stack_name

Scenario = Callable[[EventFactory, str], list[dict[str, Any]]]


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
        "in order": lambda f, i: f.lifecycle(i),
        "backwards": lambda f, i: list(reversed(f.lifecycle(i))),
        "every event twice": lambda f, i: [e for e in f.lifecycle(i) for _ in (0, 1)],
    }
    if first_failing:
        scenarios["failure on time"] = lambda f, i: f.lifecycle(i, failure_at=first_failing.name)
        scenarios["failure first"] = lambda f, i: list(reversed(f.lifecycle(i, failure_at=first_failing.name)))
    return scenarios


def run(stack: StackTemplate, model: Choreography) -> None:
    print(f"\n== {model.name} {model.version}: state machine generated from {MODELS_DIR.name}/")
    with LocalRuntime(stack) as runtime:
        print(describe_definition(runtime.definition))
        factory = EventFactory(model)
        orders: dict[str, str] = {}
        for number, (label, scenario) in enumerate(_scenarios(model).items()):
            order_id = f"DEMO-{number + 1}"
            orders[order_id] = label
            for event in scenario(factory, order_id):
                runtime.deliver(event)
                time.sleep(0.02)  # let the execution move, as services take time between events
        statuses = runtime.wait_for_executions(list(orders), timeout_s=60)
        print(f"\n{'order':<8} {'scenario':<20} {'execution':<10} states entered")
        for order_id, label in orders.items():
            print(f"{order_id:<8} {label:<20} {statuses[order_id]:<10} {' > '.join(runtime.states_entered(order_id))}")
        sample = next(iter(orders))
        status = runtime.invoke(
            runtime.function_with_handler("lambdas.status.handler.handler"),
            _function_url_request(f"/orders/{sample}"),
        )
        print(f"\nGET /orders/{sample} ->")
        print(json.dumps(json.loads(status["body"]), indent=2))


def _function_url_request(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--model", help="run only this model (its name, e.g. order-fulfillment)")
    args = parser.parse_args(argv)
    stacks = {stack.name: stack for stack in load_stacks(ensure_synthesized())}
    for path in sorted(MODELS_DIR.glob("*.json")):
        model = load_model(path)
        if args.model in (None, model.name):
            run(stacks[stack_name(model)], model)


if __name__ == "__main__":
    main()
