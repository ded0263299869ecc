"""Handler micro-benchmarks, outside I/O: the real handlers with AWS clients that answer at once.

- The correlator's CPU time per event (this thread's CPU clock), for the whole handler (Powertools
  logging and metrics included) and for the correlation alone (classify, record, send), over the model's
  lifecycle events, with every milestone finding a waiting token (the path that does the most work).
- The status function's time per request, answering GET /orders/{id} from the items a real order left
  in the local table.
- Each function's cold-start import of its handler module, in a fresh interpreter started in the
  function's staged asset (cdk.out), median of several runs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.conformance import ended
from local.assembly import StackTemplate
from local.events import EventFactory
from local.gateway import function_url_event
from local.runtime import LOCAL_ENVIRONMENT, LambdaContext, LocalFunction, LocalRuntime

COLD_START_PROBE = (Path(__file__).parent / "cold_start_probe.py").read_text(encoding="utf-8")
Answer = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class MicroResults:
    correlator_handler_cpu_us: float  # per event
    correlator_logic_cpu_us: float  # per event
    status_handler_us: float  # per request, wall clock
    status_handler_cpu_us: float
    # Handler -> median of fresh interpreters: {"import_ms", "first_event_ms" (import and first event)}.
    cold_starts_ms: dict[str, dict[str, float]]
    events: int  # events per round
    rounds: int
    import_runs: int


def _nothing(_: Mapping[str, Any]) -> Mapping[str, Any]:
    return {}


class _Response(dict[str, Any]):
    """A response that reads as empty wherever the stub said nothing."""

    def __missing__(self, key: str) -> Any:
        return _Response()


class StubClient:
    """An AWS client that answers every operation at once from canned answers (an empty response
    otherwise), so that only the handler's own work is timed."""

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self._answers = answers

    def __getattr__(self, operation: str) -> Callable[..., Mapping[str, Any]]:
        answer = self._answers.get(operation, _nothing)
        return lambda **request: _Response(answer(request))


def _correlator_answers() -> dict[str, Answer]:
    def update_item(request: Mapping[str, Any]) -> Mapping[str, Any]:
        # A milestone item holds a waiting token: the correlator records the event and sends it on.
        if request["Key"][table.SORT_KEY]["S"] == table.INSTANCE_SK:
            return {}
        # As the execution's token write leaves it: the latency is measured from its state, without a read.
        state = json.dumps({"startedAt": "2026-01-01T00:00:00+00:00", "milestones": {}})
        return {"Attributes": {table.TASK_TOKEN: {"S": "stub-token"}, table.REACHED_WITH: {"S": state}}}

    return {
        "update_item": update_item,
        "start_execution": lambda request: {"executionArn": f"arn:aws:states:::execution:stub:{request['name']}"},
    }


@contextlib.contextmanager
def _stubbed_clients(answers: Mapping[str, Answer]) -> Iterator[None]:
    with mock.patch("botocore.session.Session.create_client", return_value=StubClient(answers)):
        yield


def _cold_module(function: LocalFunction) -> Any:
    """The function's handler module imported afresh (its cached clients built on first use), as a cold start."""
    os.environ.update(function.environment)
    module_name = function.handler_path.rsplit(".", 1)[0]
    return importlib.reload(importlib.import_module(module_name))


def _per_call_us(call: Callable[[Any], Any], inputs: Sequence[Any], rounds: int) -> tuple[float, float]:
    """Median over rounds of the mean wall-clock and CPU (this thread's) time per call, in microseconds."""
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.thread_time()
        for value in inputs:
            call(value)
        wall.append((time.perf_counter() - started) / len(inputs) * 1e6)
        cpu.append((time.thread_time() - started_cpu) / len(inputs) * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def correlator_cpu(function: LocalFunction, model: Choreography, orders: int, rounds: int) -> tuple[float, float]:
    factory = EventFactory(model)
    events = [event for number in range(orders) for event in factory.lifecycle(f"MICRO-{number}")]
    context = LambdaContext(function.logical_id, function.memory_mb)
    with _stubbed_clients(_correlator_answers()), contextlib.redirect_stdout(io.StringIO()):
        module = _cold_module(function)
        handler = getattr(module, function.handler_path.rsplit(".", 1)[1])
        handler(events[0], context)  # the cold start: clients, model and validators built once
        _, whole = _per_call_us(lambda event: handler(event, context), events, rounds)
        correlator = module.build_correlator(os.environ)
        now = datetime.now(UTC)
        _, logic = _per_call_us(lambda event: correlator.handle(event, now), events, rounds)
    return whole, logic


def status_time(
    function: LocalFunction, items: list[Mapping[str, Any]], order_id: str, rounds: int
) -> tuple[float, float]:
    request = function_url_event("GET", f"/orders/{order_id}", {}, b"")
    requests = [request] * 100
    context = LambdaContext(function.logical_id, function.memory_mb)
    with _stubbed_clients({"query": lambda _: {"Items": items}}), contextlib.redirect_stdout(io.StringIO()):
        module = _cold_module(function)
        handler = getattr(module, function.handler_path.rsplit(".", 1)[1])
        answer = handler(request, context)
        if answer["statusCode"] != 200:
            raise RuntimeError(f"the status handler answered {answer['statusCode']}: {answer.get('body')}")
        return _per_call_us(lambda event: handler(event, context), requests, rounds)


def _placeholder(value: Any) -> str:
    """A variable as the function would read it, with "local" for every name or ARN the template leaves to
    CloudFormation (the probe's clients never reach AWS): joins keep their shape, so a JSON value parses."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_placeholder(part) for part in parts)
    return "local"


def cold_start_ms(
    stack: StackTemplate, first_events: Mapping[str, tuple[Any, Mapping[str, Any]]], runs: int
) -> dict[str, dict[str, float]]:
    """Each handler's cold start in a fresh interpreter, from the function's staged code: its import, and
    its import plus its first event (`first_events`: handler -> the event, and the AWS answers by target)."""
    results = {}
    for _, properties in stack.of_type("AWS::Lambda::Function"):
        handler = str(properties["Handler"])
        variables = properties.get("Environment", {}).get("Variables", {})
        environment = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # the staged code, not the checkout
            **LOCAL_ENVIRONMENT,
            **{name: _placeholder(value) for name, value in variables.items()},
            "LAMBDA_TASK_ROOT": str(stack.asset_directory(properties)),
        }
        event, answers = first_events[handler]
        samples = []
        for _ in range(runs):
            probe = subprocess.run(
                [sys.executable, "-c", COLD_START_PROBE, handler, json.dumps(event), json.dumps(answers)],
                cwd=stack.asset_directory(properties),
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(probe.stdout.strip().splitlines()[-1]))
        results[handler.rsplit(".", 1)[0]] = {
            key: round(statistics.median(sample[key] for sample in samples), 1)
            for key in ("import_ms", "first_event_ms")
        }
    return results


def _first_events(model: Choreography, items: list[Mapping[str, Any]], order_id: str) -> dict[str, Any]:
    """Each handler's first event, with what AWS answers it: for the correlator a milestone event whose
    token waits (the common path), for the status function a read of an order, for the end check the end
    of that order's execution (in the modelled order: one Query, no mark)."""
    milestone_event = EventFactory(model).lifecycle("COLD-START")[1]
    waiting = {
        table.TASK_TOKEN: {"S": "cold-start-token"},
        table.REACHED_WITH: {"S": json.dumps({"startedAt": milestone_event["time"]})},
    }
    return {
        "lambdas.correlator.handler.handler": (
            milestone_event,
            {"DynamoDB_20120810.UpdateItem": {"Attributes": waiting}, "AWSStepFunctions.SendTaskSuccess": {}},
        ),
        "lambdas.status.handler.handler": (
            function_url_event("GET", f"/orders/{order_id}", {}, b""),
            {"DynamoDB_20120810.Query": {"Items": items, "Count": len(items)}},
        ),
        "lambdas.conformance.handler.handler": (
            {
                "source": ended.SOURCE,
                "detail-type": ended.DETAIL_TYPE,
                "detail": {"name": order_id, "status": "SUCCEEDED"},
            },
            {"DynamoDB_20120810.Query": {"Items": items, "Count": len(items)}},
        ),
    }


def run(
    stack: StackTemplate,
    model: Choreography,
    status_function: str,
    *,
    orders: int = 100,
    rounds: int = 20,
    import_runs: int = 5,
) -> MicroResults:
    with LocalRuntime(stack) as runtime:
        # A real order first, through the real system: the status benchmark answers from its items.
        sample = "MICRO-STATUS"
        runtime.publish(EventFactory(model).lifecycle(sample))
        runtime.wait_for_executions([sample])
        items = runtime.dynamodb.query(
            TableName=runtime.table_name,
            KeyConditionExpression=f"{table.PARTITION_KEY} = :id",
            ExpressionAttributeValues={":id": {"S": sample}},
            ConsistentRead=True,
        )["Items"]
        whole, logic = correlator_cpu(runtime.correlator, model, orders, rounds)
        wall, cpu = status_time(runtime.functions[status_function], items, sample, rounds)
    events = orders * (1 + len(model.milestones))
    cold = cold_start_ms(stack, _first_events(model, items, sample), import_runs)
    return MicroResults(whole, logic, wall, cpu, cold, events, rounds, import_runs)
