"""One model's seeded workload through the local runtime, metered: what this design consumes, counted from
the execution histories, the handlers' AWS calls, the DynamoDB items as written, and the invocations."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.costs import Usage, gb_seconds
from bench.meter import STATE_MACHINE, Meter
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.loadrun import run as run_workload
from local.runtime import LocalRuntime
from local.workload import COMPLETED, Workload

# moto's task tokens are 36-character UUIDs; AWS's are opaque strings the Step Functions API accepts up to
# 1,024 characters long (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
# Items are sized with a token of that length: an upper bound, since it decides whether an item fits in 1 KB.
TASK_TOKEN_BYTES = 1024
DEFAULT_ARCHITECTURE = "x86_64"  # Lambda's default when a function names none


def billed_transitions(history: Sequence[Mapping[str, Any]]) -> int:
    """Every state entered is one transition, and so is every retry of a task (a second TaskScheduled
    within one state)."""
    transitions = attempts = 0
    for event in history:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            transitions, attempts = transitions + 1, 0
        elif kind.endswith("Scheduled"):
            attempts += 1
            transitions += int(attempts > 1)
    return transitions


def events_put(history: Sequence[Mapping[str, Any]]) -> int:
    """Events the execution itself put on a bus (each entry is billed as a custom event)."""
    count = 0
    for event in history:
        details = event.get("taskScheduledEventDetails", {})
        if str(details.get("resourceType", "")).startswith("events"):
            count += len(json.loads(details.get("parameters") or "{}").get("Entries", [None]))
    return count


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    memory_mb: int
    architecture: str
    behind_url: bool  # answers status requests, not events
    handler: str


@dataclass
class SystemRun:
    model: Choreography
    workload: Workload
    report: dict[str, Any]  # local/loadrun.py's report
    transitions: dict[str, int]  # billed transitions per execution (order id)
    functions: dict[str, FunctionInfo]
    durations_ms: dict[str, list[float]]
    usage: Usage  # the event path: the workload's orders
    lookups: Usage  # the status function: one lookup per "order"
    end_check: Usage  # of `usage`: the check at each execution's end, per order
    requests: Counter[tuple[str, str]]  # DynamoDB requests by (source, operation)
    execution_arn_prefix: str

    @property
    def completed_transitions(self) -> list[int]:
        completed = [name for name, state in self.workload.expected.items() if state == COMPLETED]
        return [self.transitions[name] for name in completed if name in self.transitions]

    @property
    def event_path_durations_ms(self) -> list[float]:
        """Every event-path invocation's measured duration (the estimate of its Lambda duration)."""
        return [d for f in self.functions.values() if not f.behind_url for d in self.durations_ms.get(f.logical_id, [])]

    @property
    def event_path_duration_ms(self) -> float:
        durations = self.event_path_durations_ms
        return statistics.fmean(durations) if durations else 0.0

    def execution_arn(self, name: str) -> str:
        return self.execution_arn_prefix + name


END_CHECK_HANDLER = "lambdas.conformance.handler.handler"


def functions_of(stack: StackTemplate) -> dict[str, FunctionInfo]:
    behind_url = {url["TargetFunctionArn"]["Fn::GetAtt"][0] for _, url in stack.of_type("AWS::Lambda::Url")}
    return {
        logical_id: FunctionInfo(
            logical_id,
            int(properties.get("MemorySize", 128)),
            (properties.get("Architectures") or [DEFAULT_ARCHITECTURE])[0],
            logical_id in behind_url,
            str(properties["Handler"]),
        )
        for logical_id, properties in stack.of_type("AWS::Lambda::Function")
    }


def run(
    stack: StackTemplate, model: Choreography, workload: Workload, token_bytes: int = TASK_TOKEN_BYTES
) -> SystemRun:
    functions = functions_of(stack)
    with LocalRuntime(stack) as runtime, Meter(runtime, {table.TASK_TOKEN: token_bytes}).attached() as meter:
        report = run_workload(runtime, workload)
        histories = {name: runtime.history(name) for name in _execution_names(runtime)}
        handler_calls = Counter(runtime.calls.calls)  # the correlator's, and the status reads' (Query only)
        arn_prefix = runtime.execution_arn("")
    transitions = {name: billed_transitions(history) for name, history in histories.items()}
    published = int(report["events"]["published"])
    usage = _usage(
        meter,
        [f for f in functions.values() if not f.behind_url],
        with_state_machine=True,
        orders=len(workload.orders),
        transitions=sum(transitions.values()),
        events=published + sum(events_put(h) for h in histories.values()) + handler_calls["PutEvents"],
        sqs_requests=handler_calls["SendMessage"],
    )
    end_check = _usage(
        meter,
        [f for f in functions.values() if f.handler == END_CHECK_HANDLER],
        with_state_machine=False,
        orders=len(workload.orders),
    )
    lookup_functions = [f for f in functions.values() if f.behind_url]
    lookups = _usage(
        meter,
        lookup_functions,
        with_state_machine=False,
        orders=sum(meter.invocations[f.logical_id] for f in lookup_functions),
    )
    return SystemRun(
        model,
        workload,
        report,
        transitions,
        functions,
        dict(meter.durations_ms),
        usage,
        lookups,
        end_check,
        meter.requests,
        arn_prefix,
    )


def _execution_names(runtime: LocalRuntime) -> Iterator[str]:
    pages = runtime.stepfunctions.get_paginator("list_executions")
    for page in pages.paginate(stateMachineArn=runtime.state_machine_arn):
        for execution in page["executions"]:
            yield str(execution["name"])


def _usage(
    meter: Meter,
    functions: list[FunctionInfo],
    *,
    with_state_machine: bool,
    orders: int,
    transitions: int = 0,
    events: int = 0,
    sqs_requests: int = 0,
) -> Usage:
    """What the given functions consumed in the run (and the state machine's own DynamoDB requests)."""
    sources = {f.logical_id for f in functions} | ({STATE_MACHINE} if with_state_machine else set())
    gb_s: defaultdict[str, float] = defaultdict(float)
    for function in functions:
        for duration in meter.durations(function.logical_id):
            gb_s[function.architecture] += gb_seconds(function.memory_mb, duration)
    return Usage(
        orders=orders,
        transitions=transitions,
        lambda_requests=sum(meter.invocations[f.logical_id] for f in functions),
        lambda_gb_seconds=dict(gb_s),
        write_units=float(sum(meter.write_units[s] + meter.index_write_units[s] for s in sources)),
        read_units=float(sum(meter.read_units[s] for s in sources)),
        events=events,
        sqs_requests=sqs_requests,
    )
