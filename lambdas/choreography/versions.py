"""The versions of one model that a stack ships: the current one, which new instances start on, and the
earlier ones that instances still open may have started on.

The current model is `<models>/<file>.json`; each earlier version is kept, unchanged, as
`<models>/<file>/<version>.json`, for as long as instances started on it can be open (the retention
period). An instance is read, classified and validated by the version it started on until it ends.

Classifying an event needs its instance's version only where the shipped versions read that event
differently: `common_events` are the ones every version reads alike, which the correlator classifies
without a read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from lambdas.choreography import table
from lambdas.choreography.model import Choreography, ModelError, load_model

# What a schema says for people, not for validation: a change to these reads an event no differently.
DOCUMENTATION_KEYWORDS = ("examples", "description", "title", "$comment")


@dataclass(frozen=True)
class Versions:
    current: Choreography
    earlier: tuple[Choreography, ...] = ()  # oldest first

    @property
    def all(self) -> tuple[Choreography, ...]:
        return (*self.earlier, self.current)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(model.version for model in self.all)

    def get(self, version: str | None) -> Choreography | None:
        """The model of a version the stack ships; the current one for None (an instance not started)."""
        if version is None:
            return self.current
        return next((model for model in self.all if model.version == version), None)

    def reading(self, records: Mapping[str, Mapping[str, Any]]) -> Choreography:
        """The model an instance's records are read by: the version it started on, or the current one (no
        start yet, or a version no longer shipped)."""
        started_by = records.get(table.INSTANCE_SK, {}).get(table.STARTED_BY, {})
        return self.get(started_by.get(table.MODEL_VERSION)) or self.current

    @cached_property
    def event_names(self) -> frozenset[str]:
        """Every event any shipped version knows: the rules route them all."""
        return frozenset(name for model in self.all for name in model.roles)

    @cached_property
    def common_events(self) -> frozenset[str]:
        """The events every shipped version reads alike (same milestone, outcome, source, schema and
        neighbours): classified by any version, without knowing the instance's."""
        return frozenset(name for name in self.event_names if len({_reading(model, name) for model in self.all}) == 1)

    @cached_property
    def milestone_names(self) -> tuple[str, ...]:
        """Every milestone any shipped version has, each once, oldest version's first: where an open order
        can stop."""
        return tuple(dict.fromkeys(m.name for model in self.all for m in model.milestones))

    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({source for model in self.all for source in model.sources}))

    def event_names_from(self, source: str) -> tuple[str, ...]:
        return tuple(sorted({name for model in self.all for name in model.event_names_from(source)}))


def state_machine_name(model: Choreography) -> str:
    """A version's machine: its executions' ARNs say which version an instance runs on."""
    return f"{model.name}-{model.version}"


def version_of_execution(execution_arn: str, model_name: str) -> str | None:
    """The model version an execution runs on, from its ARN (...:execution:<machine>:<name>)."""
    parts = execution_arn.split(":")
    machine = parts[-2] if len(parts) >= 2 else ""
    prefix = f"{model_name}-"
    return machine[len(prefix) :] if machine.startswith(prefix) else None


def _reading(model: Choreography, name: str) -> str | None:
    """Everything the correlator takes from the model about one event, as one comparable text; None
    where the version does not know the event."""
    role = model.roles.get(name)
    if role is None:
        return None
    schema = {key: value for key, value in role.event.schema.items() if key not in DOCUMENTATION_KEYWORDS}
    milestone = role.milestone
    neighbours: dict[str, Any] = {}
    if milestone is not None:
        neighbours = {
            "follows": [m.name for m in model.predecessors[milestone.name]],
            "followers": [[m.name, len(model.predecessors[m.name])] for m in model.followers(milestone)],
        }
    return json.dumps(
        {
            "source": role.event.source,
            "schema": schema,
            "milestone": milestone.name if milestone else None,
            "outcome": role.outcome,
            "time": [model.event_time_field, model.clock_skew_seconds],
            **neighbours,
        },
        sort_keys=True,
    )


def earlier_versions_directory(current_path: Path) -> Path:
    """Where the earlier versions of the model in `current_path` are kept."""
    return current_path.with_suffix("")


def load_versions(current_path: Path | str, *, validated: bool = False) -> Versions:
    """The current model and its earlier versions; raise ModelError naming the file and the field."""
    current_path = Path(current_path)
    current = load_model(current_path, validated=validated)
    directory = earlier_versions_directory(current_path)
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    earlier = [(path, load_model(path, validated=validated)) for path in paths]
    if not validated:
        problems = list(version_problems(current_path, current, earlier))
        if problems:
            raise problems[0]
    earlier.sort(key=lambda pair: version_key(pair[1].version))
    return Versions(current, tuple(model for _, model in earlier))


def function_versions(environment: Mapping[str, str]) -> Versions:
    """The versions a function ships with: CHOREOGRAPHY_MODEL, relative to the function's code."""
    path = Path(environment["CHOREOGRAPHY_MODEL"])
    if not path.is_absolute():
        path = Path(environment.get("LAMBDA_TASK_ROOT", ".")) / path
    return load_versions(path, validated=True)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def version_problems(
    current_path: Path, current: Choreography, earlier: list[tuple[Path, Choreography]]
) -> Iterator[ModelError]:
    """What makes a set of versions unsafe to ship together: each problem names the version's file and
    the field. The rules route every shipped version's events, so no event an open version awaits goes
    unrouted; what cannot be handled is refused here."""
    for path, model in earlier:
        source = str(path)
        if path.stem != model.version:
            yield ModelError(
                source,
                "version",
                f"{model.version!r} is kept in a file named {path.name!r}: name it {model.version}.json",
            )
        if model.name != current.name:
            yield ModelError(
                source, "name", f"{model.name!r} differs from the current version's {current.name!r} ({current_path})"
            )
        if version_key(model.version) >= version_key(current.version):
            yield ModelError(
                str(current_path),
                "version",
                f"{current.version!r} must be higher than every earlier version kept; {path} is {model.version}",
            )
        if model.correlation_key != current.correlation_key:
            yield ModelError(
                str(current_path),
                "correlationKey",
                f"{current.correlation_key!r} differs from {model.correlation_key!r} in version {model.version}: "
                f"events of orders still open on {model.version} could not be matched to them (a model "
                "correlated by another key is a new model, with a name of its own)",
            )
        if model.monitor_source != current.monitor_source or model.stuck_event != current.stuck_event:
            yield ModelError(
                str(current_path),
                "stuck",
                f"the monitor's own event differs from version {model.version}'s: its executions would publish "
                "an event the rules route back to the correlator",
            )
