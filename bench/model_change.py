"""What a model change costs while orders are open, measured on the local runtime.

Three groups of orders of one model, every event delivered once and on time (the execution waits at its
milestone when the event arrives), so each figure is the event path's own:

- before: orders started and ended on version 1, with version 1 alone shipped;
- across: orders started on version 1, which go on after version 2 is deployed;
- after: orders started and ended on version 2, with both versions shipped.

Each delivery's AWS calls are counted by the kind of event: with one version shipped; after the
deployment, an event both versions read alike (no read of the order's version); one they read
differently (one GetItem of the order's version). The billed transitions per order show whether a
version's graph changes with the change (it must not: the machine is the version's own).
"""

from __future__ import annotations

import statistics
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.meter import Meter
from bench.system import billed_transitions
from lambdas.choreography import table
from lambdas.choreography.model import Choreography, load_model
from lambdas.choreography.versions import Versions
from local.assembly import StackTemplate
from local.events import EventFactory
from local.model_change import synthesize_change
from local.runtime import LocalRuntime

ONE_VERSION = "one version shipped"
READ_ALIKE = "two shipped, read alike"
READ_DIFFERENTLY = "two shipped, read differently"
GROUPS = ("before", "across", "after")


@dataclass
class ModelChange:
    model: str
    versions: tuple[str, str]
    orders: int  # per group
    common_events: tuple[str, ...]  # read alike by both versions
    differing_events: tuple[str, ...]
    # Plain dicts, not Counters: dataclasses.asdict rebuilds a Counter from its items, as counts of them.
    deliveries: dict[str, int] = field(default_factory=dict)  # kind -> deliveries
    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> operation -> calls
    read_units: dict[str, float] = field(default_factory=dict)  # kind -> DynamoDB read units
    transitions: dict[str, float] = field(default_factory=dict)  # group -> mean billed transitions per order

    def calls_per_delivery(self, kind: str) -> dict[str, float]:
        made = self.calls.get(kind, {})
        return {op: count / self.deliveries[kind] for op, count in sorted(made.items())}

    def read_units_per_delivery(self, kind: str) -> float:
        deliveries = self.deliveries.get(kind, 0)
        return self.read_units.get(kind, 0.0) / deliveries if deliveries else 0.0


def measure(stack: StackTemplate, model_path: Path, orders: int, token_bytes: int) -> ModelChange:
    first = load_model(model_path)
    with tempfile.TemporaryDirectory(prefix="model-change-") as work:
        changed_stack, second = synthesize_change(model_path, Path(work))
        versions = Versions(second, (first,))
        change = ModelChange(
            first.name,
            (first.version, second.version),
            orders,
            tuple(sorted(versions.common_events)),
            tuple(sorted(versions.event_names - versions.common_events)),
        )
        with LocalRuntime(stack) as runtime, Meter(runtime, {table.TASK_TOKEN: token_bytes}).attached() as meter:
            run = _Run(runtime, meter, change, versions)
            before, across = run.orders(first, "before", orders), run.orders(first, "across", orders)
            run.deliver(first, before)
            run.deliver(first, across, milestones=2)
            runtime.deploy(changed_stack)
            run.shipped_two = True
            run.deliver(first, across)
            after = run.orders(second, "after", orders)
            run.deliver(second, after)
            statuses = runtime.wait_for_executions([*before, *across, *after], timeout_s=120)
            for group, plan in zip(GROUPS, (before, across, after), strict=True):
                ended = [name for name in plan if statuses[name] == "SUCCEEDED"]
                change.transitions[group] = statistics.fmean(
                    billed_transitions(runtime.history(name)) for name in ended
                )
    return change


class _Run:
    def __init__(self, runtime: LocalRuntime, meter: Meter, change: ModelChange, versions: Versions) -> None:
        self.runtime, self.meter, self.change, self.versions = runtime, meter, change, versions
        self.correlator = runtime.correlator.logical_id
        self.shipped_two = False
        self.delivered: dict[str, int] = {}  # order -> events delivered

    def orders(self, model: Choreography, group: str, count: int) -> dict[str, list[dict[str, Any]]]:
        factory = EventFactory(model)
        return {f"{group}-{n}": factory.lifecycle(f"{group}-{n}") for n in range(count)}

    def deliver(
        self, model: Choreography, plan: Mapping[str, list[dict[str, Any]]], milestones: int | None = None
    ) -> None:
        """Each order's next events, each once its execution waits for it, up to `milestones` settled."""
        for name, lifecycle in plan.items():
            end = len(lifecycle) if milestones is None else 1 + milestones
            for event in lifecycle[self.delivered.get(name, 0) : end]:
                milestone = model.roles[event["detail-type"]].milestone
                if milestone is not None:
                    assert self.runtime.wait_until_waiting(name, milestone.name), f"{name} never reached {milestone}"
                self._delivered_once(event)
            self.delivered[name] = end

    def _delivered_once(self, event: dict[str, Any]) -> None:
        kind = self._kind(event["detail-type"])
        calls_before, units_before = len(self.runtime.calls.made), self.meter.read_units[self.correlator]
        self.runtime.deliver(event)
        made = [c.operation for c in self.runtime.calls.made[calls_before:] if c.function == self.correlator]
        self.change.deliveries[kind] = self.change.deliveries.get(kind, 0) + 1
        counted = self.change.calls.setdefault(kind, {})
        for operation, count in Counter(made).items():
            counted[operation] = counted.get(operation, 0) + count
        read = float(self.meter.read_units[self.correlator] - units_before)
        self.change.read_units[kind] = self.change.read_units.get(kind, 0.0) + read

    def _kind(self, event_type: str) -> str:
        if not self.shipped_two:
            return ONE_VERSION
        return READ_ALIKE if event_type in self.versions.common_events else READ_DIFFERENTLY
