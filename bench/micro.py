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
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.gateway import function_url_event
from local.runtime import LOCAL_ENVIRONMENT, LambdaContext, LocalFunction, LocalRuntime

IMPORT_PROBE = (
    "import sys, time\nstart = time.perf_counter()\n__import__(sys.argv[1])\nprint(time.perf_counter() - start)"
)
Answer = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class MicroResults:
    correlator_handler_cpu_us: float  # per event
    correlator_logic_cpu_us: float  # per event
    status_handler_us: float  # per request, wall clock
    status_handler_cpu_us: float
    cold_imports_ms: dict[str, float]  # handler module -> median import time
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
        return {"Attributes": {table.TASK_TOKEN: {"S": "stub-token"}}}

    return {
        "update_item": update_item,
        "start_execution": lambda request: {"executionArn": f"arn:aws:states:::execution:stub:{request['name']}"},
    }


@contextlib.contextmanager
def _stubbed_clients(answers: Mapping[str, Answer]) -> Iterator[None]:
    with mock.patch("boto3.client", return_value=StubClient(answers)):
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


def cold_import_ms(stack: StackTemplate, runs: int) -> dict[str, float]:
    """Import time of each handler module in a fresh interpreter, from the function's staged code."""
    results = {}
    for _, properties in stack.of_type("AWS::Lambda::Function"):
        module = str(properties["Handler"]).rsplit(".", 1)[0]
        variables = properties.get("Environment", {}).get("Variables", {})
        environment = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # the staged code, not the checkout
            **LOCAL_ENVIRONMENT,
            **{name: value for name, value in variables.items() if isinstance(value, str)},
        }
        samples = []
        for _ in range(runs):
            probe = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, module],
                cwd=stack.asset_directory(properties),
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(float(probe.stdout.strip().splitlines()[-1]) * 1000)
        results[module] = statistics.median(samples)
    return results


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
    return MicroResults(whole, logic, wall, cpu, cold_import_ms(stack, import_runs), events, rounds, import_runs)
