"""The choreography model: loaded from JSON, validated, and exposed as plain immutable objects.

The model is the single source of truth. The stack turns it into a state machine and rules; the correlator
uses it to classify and validate events. Nothing else in the code knows a milestone or an event by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

MODEL_SCHEMA_PATH = Path(__file__).with_name("model.schema.json")
SUCCESS = "success"
FAILURE = "failure"
DEFAULT_ESCALATIONS = 3
ENVELOPE_TIME = "time"  # the EventBridge envelope's: when the event was put, unless the service set Time
DEFAULT_CLOCK_SKEW_SECONDS = 5


class ModelError(ValueError):
    """A model file that cannot be used, with the file and the field at fault."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        super().__init__(f"{source}: {field}: {message}")


@dataclass(frozen=True)
class EventType:
    name: str
    source: str
    schema: Mapping[str, Any]

    @property
    def example(self) -> Mapping[str, Any] | None:
        examples = self.schema.get("examples") or [None]
        example: Mapping[str, Any] | None = examples[0]
        return example


@dataclass(frozen=True)
class Milestone:
    name: str
    sla_seconds: int
    success: tuple[str, ...]
    failure: tuple[str, ...]
    escalations: int = DEFAULT_ESCALATIONS  # OrderStuck events before the instance fails as timed out


@dataclass(frozen=True)
class Concurrent:
    """Milestones that settle in any order or at once: each branch is a sequence of milestones. What
    follows waits for every branch; a failure in one ends them all."""

    name: str
    branches: tuple[tuple[Milestone, ...], ...]


Step = Milestone | Concurrent


@dataclass(frozen=True)
class EventRole:
    """What an event type means in the choreography: it starts an instance or settles a milestone."""

    event: EventType
    milestone: Milestone | None  # None for the start event
    outcome: str | None  # SUCCESS or FAILURE for milestone events


@dataclass(frozen=True)
class Choreography:
    name: str
    version: str
    correlation_key: str
    start_event: str
    milestones: tuple[Milestone, ...]
    events: Mapping[str, EventType]
    stuck_event: str = "InstanceStuck"  # the detail-type the monitor publishes when a milestone outlives its SLA
    stuck_source: str = ""  # that event's source; empty: choreography-monitor.<name>
    steps: tuple[Step, ...] = ()  # the milestones as the model orders them; empty: `milestones`, in sequence
    event_time_field: str = ENVELOPE_TIME  # where each event says when its service acted
    clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS  # how much out of order a pair may look and be in order

    @property
    def plan(self) -> tuple[Step, ...]:
        """The main line: milestones, and groups of concurrent ones, in model order."""
        return self.steps or self.milestones

    @cached_property
    def predecessors(self) -> Mapping[str, tuple[Milestone, ...]]:
        """Milestone name -> the milestones it follows (its SLA clock starts when they are done); none for
        the first ones, which follow the start."""
        found: dict[str, tuple[Milestone, ...]] = {}
        ends: tuple[Milestone, ...] = ()
        for step in self.plan:
            branches = step.branches if isinstance(step, Concurrent) else ((step,),)
            next_ends: list[Milestone] = []
            for branch in branches:
                follows = ends
                for milestone in branch:
                    found[milestone.name] = follows
                    follows = (milestone,)
                next_ends += follows
            ends = tuple(next_ends)
        return found

    def with_each_milestone(self, change: Callable[[Milestone], Milestone]) -> Choreography:
        """The same model with every milestone changed (in `milestones` and in `steps` alike)."""

        def step(item: Step) -> Step:
            if isinstance(item, Concurrent):
                return replace(item, branches=tuple(tuple(map(change, branch)) for branch in item.branches))
            return change(item)

        return replace(self, milestones=tuple(map(change, self.milestones)), steps=tuple(map(step, self.steps)))

    def followers(self, milestone: Milestone) -> tuple[Milestone, ...]:
        return tuple(m for m in self.milestones if milestone in self.predecessors[m.name])

    def concurrent(self, milestone: Milestone) -> bool:
        """Whether the milestone settles concurrently with others (it is in a branch)."""
        return any(
            isinstance(step, Concurrent) and any(milestone in branch for branch in step.branches) for step in self.plan
        )

    @property
    def monitor_source(self) -> str:
        """The source of the events the monitor itself publishes (never routed back to the correlator)."""
        return self.stuck_source or f"choreography-monitor.{self.name}"

    @property
    def correlation_path(self) -> tuple[str, ...]:
        """The correlation key as path segments into the EventBridge event."""
        return tuple(self.correlation_key.split("."))

    @property
    def event_time_path(self) -> tuple[str, ...]:
        """Where the event's own time is, as path segments into the EventBridge event."""
        return tuple(self.event_time_field.split("."))

    @property
    def instance_key(self) -> str:
        """What the services call an instance's id (orderId, returnId): the answers use the same word."""
        return self.correlation_path[-1]

    @cached_property
    def roles(self) -> Mapping[str, EventRole]:
        """Each event type's role, by detail-type."""
        roles = {self.start_event: EventRole(self.events[self.start_event], None, None)}
        for milestone in self.milestones:
            for outcome, names in ((SUCCESS, milestone.success), (FAILURE, milestone.failure)):
                for name in names:
                    roles[name] = EventRole(self.events[name], milestone, outcome)
        return roles

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({event.source for event in self.events.values()}))

    def event_names_from(self, source: str) -> tuple[str, ...]:
        return tuple(sorted(name for name, event in self.events.items() if event.source == source))


def load_model(path: Path | str, *, validated: bool = False) -> Choreography:
    """Read and validate one model file; raise ModelError naming the file and the field. `validated`: the
    file is the one synthesis staged beside a function, after validating it; a cold start then skips the
    checks (half of its time went to checking event schemas against JSON Schema's own)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelError(str(path), "(file)", error.strerror or str(error)) from error
    except json.JSONDecodeError as error:
        raise ModelError(str(path), f"line {error.lineno} column {error.colno}", error.msg) from error
    return parse_model(document, str(path), validated=validated)


def model_problems(path: Path | str) -> list[ModelError]:
    """Every problem of one model file, for `python -m cli validate`: the format's first, and the
    references' only when the format holds (they read the structure the format promises)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        return [ModelError(str(path), "(file)", error.strerror or str(error))]
    except json.JSONDecodeError as error:
        return [ModelError(str(path), f"line {error.lineno} column {error.colno}", error.msg)]
    return _problems(document, str(path))


def _problems(document: Any, source: str) -> list[ModelError]:
    return list(_format_problems(document, source)) or list(_reference_problems(document, source))


def parse_model(document: Any, source: str = "<model>", *, validated: bool = False) -> Choreography:
    if not validated:
        problems = _problems(document, source)
        if problems:
            raise problems[0]
    stuck = document.get("stuck", {})
    escalations = stuck.get("escalations", DEFAULT_ESCALATIONS)

    def milestone(item: Mapping[str, Any]) -> Milestone:
        return Milestone(
            name=item["name"],
            sla_seconds=item["slaSeconds"],
            success=tuple(item["success"]),
            failure=tuple(item.get("failure", ())),
            escalations=item.get("escalations", escalations),
        )

    steps: list[Step] = []
    for item in document["milestones"]:
        if "concurrently" in item:
            branches = tuple(tuple(map(milestone, _branch(b))) for b in item["concurrently"])
            steps.append(Concurrent(group_name(item), branches))
        else:
            steps.append(milestone(item))
    flat = tuple(m for step in steps for m in _milestones_of(step))
    return Choreography(
        name=document["name"],
        version=document["version"],
        correlation_key=document["correlationKey"],
        start_event=document["start"]["event"],
        milestones=flat,
        events={
            name: EventType(name=name, source=item["source"], schema=item["schema"])
            for name, item in document["events"].items()
        },
        stuck_event=stuck.get("event", Choreography.stuck_event),
        stuck_source=stuck.get("source", ""),
        steps=tuple(steps) if any(isinstance(step, Concurrent) for step in steps) else (),
        event_time_field=document.get("eventTime", {}).get("field", ENVELOPE_TIME),
        clock_skew_seconds=document.get("eventTime", {}).get("clockSkewSeconds", DEFAULT_CLOCK_SKEW_SECONDS),
    )


def group_name(item: Mapping[str, Any]) -> str:
    """A concurrent group's state name as written: its own, or its branches' first milestones."""
    return str(item.get("name") or " and ".join(_branch(b)[0]["name"] for b in item["concurrently"]))


def _branch(item: Any) -> list[Mapping[str, Any]]:
    """A branch as written: one milestone, or a list of them."""
    return list(item) if isinstance(item, list) else [item]


def _milestones_of(step: Step) -> tuple[Milestone, ...]:
    return tuple(m for branch in step.branches for m in branch) if isinstance(step, Concurrent) else (step,)


def _written_milestones(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every milestone of a document with where it is written: milestones[1].concurrently[0][2]."""
    for index, item in enumerate(document["milestones"]):
        if "concurrently" not in item:
            yield f"milestones[{index}]", item
            continue
        for position, branch in enumerate(item["concurrently"]):
            if isinstance(branch, list):
                for step, milestone in enumerate(branch):
                    yield f"milestones[{index}].concurrently[{position}][{step}]", milestone
            else:
                yield f"milestones[{index}].concurrently[{position}]", branch


def _format_validator() -> Draft202012Validator:
    schema = json.loads(MODEL_SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def field_path(path: Iterable[Any]) -> str:
    """Render a jsonschema error path the way a person writes it: milestones[2].slaSeconds."""
    rendered = ""
    for part in path:
        rendered += f"[{part}]" if isinstance(part, int) else (f".{part}" if rendered else str(part))
    return rendered or "(root)"


def _format_problems(document: Any, source: str) -> Iterator[ModelError]:
    """One problem per field: the most telling of the errors JSON Schema finds there."""
    by_field: dict[str, list[ValidationError]] = {}
    for error in _format_validator().iter_errors(document):
        by_field.setdefault(field_path(error.absolute_path), []).append(error)
    for field in sorted(by_field, key=lambda name: [len(name), name] if "[" not in name else [0, name]):
        best = best_match(by_field[field])
        if best is not None:
            yield ModelError(source, field_path(best.absolute_path), _plain_message(best))


def _plain_message(error: ValidationError) -> str:
    if error.validator == "pattern":
        return f"{error.instance!r} does not match the pattern {error.validator_value}"
    nested = isinstance(error.instance, Mapping) and "concurrently" in error.instance
    if error.validator == "additionalProperties" and nested:
        return "a branch holds milestones only: concurrent milestones cannot be nested in a branch"
    if error.validator == "minItems" and isinstance(error.instance, list) and error.instance:
        return f"has {len(error.instance)} item(s); at least {error.validator_value} are needed"
    if error.validator == "additionalProperties":
        return f"{error.message} (see lambdas/choreography/model.schema.json)"
    return str(error.message)


def _reference_problems(document: Mapping[str, Any], source: str) -> Iterator[ModelError]:
    """What JSON Schema cannot say: names are unique, every reference resolves, and every event can be
    correlated and shown by example."""
    events: Mapping[str, Any] = document["events"]
    used: dict[str, str] = {}

    def use(name: str, field: str) -> Iterator[ModelError]:
        if name not in events:
            yield ModelError(source, field, f"event {name!r} is not defined under 'events'")
        elif name in used:
            yield ModelError(source, field, f"event {name!r} is already used at {used[name]}")
        else:
            used[name] = field

    yield from use(document["start"]["event"], "start.event")
    seen_milestones: set[str] = set()
    for where, milestone in _written_milestones(document):
        if milestone["name"] in seen_milestones:
            yield ModelError(source, f"{where}.name", f"{milestone['name']!r} is not unique")
        seen_milestones.add(milestone["name"])
        for outcome in (SUCCESS, FAILURE):
            for position, name in enumerate(milestone.get(outcome, [])):
                yield from use(name, f"{where}.{outcome}[{position}]")
    for index, item in enumerate(document["milestones"]):
        if "concurrently" in item:
            name = group_name(item)
            if name in seen_milestones or len(name) > 80:
                problem = "is a milestone's name too" if name in seen_milestones else "is over 80 characters"
                yield ModelError(source, f"milestones[{index}].name", f"the group's state name {name!r} {problem}")
    stuck = document.get("stuck", {})
    if stuck.get("event") in events:
        yield ModelError(
            source, "stuck.event", f"{stuck['event']!r} is one of the services' events: the monitor's own must differ"
        )
    if stuck.get("source") in {event["source"] for event in events.values()}:
        yield ModelError(
            source, "stuck.source", f"{stuck['source']!r} is a service's source: the monitor's own must differ"
        )
    key_path = document["correlationKey"].split(".")[1:]  # below detail, which each event's schema describes
    time_field = document.get("eventTime", {}).get("field", ENVELOPE_TIME)
    time_path = time_field.split(".")[1:] if time_field != ENVELOPE_TIME else None
    for name, event in events.items():
        if name not in used:
            yield ModelError(source, f"events.{name}", "is defined but neither starts nor settles a milestone")
        yield from _event_schema_problems(source, name, event["schema"], key_path, time_path)


def _event_schema_problems(
    source: str, name: str, schema: Mapping[str, Any], key_path: list[str], time_path: list[str] | None
) -> Iterator[ModelError]:
    where = ["events", name, "schema"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        yield ModelError(
            source, field_path([*where, *error.absolute_path]), f"not a valid JSON Schema: {error.message}"
        )
        return
    yield from _string_property_problems(
        source, where, schema, key_path, what="the correlation key", why="names an execution"
    )
    if time_path is not None:
        problems = list(
            _string_property_problems(source, where, schema, time_path, what="the event time", why="is ISO 8601")
        )
        yield from problems
        if not problems and _schema_at(schema, time_path).get("format") != "date-time":
            at = field_path([*where, *_properties_path(time_path), "format"])
            yield ModelError(source, at, 'must be "date-time": the event time is compared between milestones')
    # Examples document the event for the services' authors and feed the local workload: keep them true.
    examples = schema.get("examples")
    if not isinstance(examples, list) or not examples:
        yield ModelError(
            source,
            field_path([*where, "examples"]),
            "needs at least one example event (the docs and the workload use it)",
        )
        return
    validator = Draft202012Validator(schema)
    for position, example in enumerate(examples):
        problem = best_match(validator.iter_errors(example))
        if problem is not None:
            at = field_path([*where, "examples", position, *problem.absolute_path])
            yield ModelError(source, at, f"the example does not match its own schema: {problem.message}")


def _string_property_problems(
    source: str, where: list[Any], schema: Mapping[str, Any], key_path: list[str], *, what: str, why: str
) -> Iterator[ModelError]:
    """Each event must carry the correlation key (and a detail field named as its time) as a required
    string: without it an event can only be quarantined."""
    key = ".".join(["detail", *key_path])
    level: Mapping[str, Any] = schema
    for depth, segment in enumerate(key_path):
        if segment not in level.get("required", []):
            yield ModelError(
                source,
                field_path([*where, *_properties_path(key_path[:depth]), "required"]),
                f"must list {segment!r}: every event carries {what} {key}",
            )
            return
        child = level.get("properties", {}).get(segment)
        if not isinstance(child, Mapping):
            yield ModelError(
                source,
                field_path([*where, *_properties_path(key_path[: depth + 1])]),
                f"is not described: {what} {key} must be a string property",
            )
            return
        level = child
    if level.get("type") != "string":
        yield ModelError(
            source,
            field_path([*where, *_properties_path(key_path), "type"]),
            f'must be "string": {what} {key} {why}',
        )


def _schema_at(schema: Mapping[str, Any], path: list[str]) -> Mapping[str, Any]:
    for segment in path:
        schema = schema["properties"][segment]
    return schema


def _properties_path(segments: list[str]) -> list[str]:
    return [part for segment in segments for part in ("properties", segment)]
