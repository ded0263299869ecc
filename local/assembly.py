"""The synthesized cloud assembly: what `cdk synth` writes to cdk.out, read back as the local runtime's
only description of the system (state machine definitions, tables, queues, rules, functions)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdas.choreography.model import Choreography, Milestone
from lambdas.choreography.versions import state_machine_name
from stacks.asl import build_definition
from stacks.packaging import MODELS_DIR, PROJECT_ROOT

DEFAULT_OUTDIR = PROJECT_ROOT / "cdk.out"
SOURCES = ("app.py", "cdk.json", "stacks", "lambdas", "choreographies")


def cdk_context() -> dict[str, Any]:
    """cdk.json's context: a plain cdk.App() ignores it, so synthesis here passes it in as `cdk synth` does."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize(
    outdir: Path = DEFAULT_OUTDIR, settings: Mapping[str, Any] | None = None, models_dir: Path | None = None
) -> Path:
    """Synthesize every stack in-process, exactly as app.py does under `cdk synth` (`settings`: the
    monitor's settings to change, as `-c` would; `models_dir`: other models than the shipped ones)."""
    import aws_cdk as cdk

    from stacks.app_builder import build_app
    from stacks.config import CONTEXT_KEY

    context = cdk_context()
    context[CONTEXT_KEY] = {**context.get(CONTEXT_KEY, {}), **(settings or {})}
    app = cdk.App(context=context, outdir=str(outdir))
    build_app(app, models_dir or MODELS_DIR)
    app.synth()
    return outdir


def ensure_synthesized(outdir: Path = DEFAULT_OUTDIR) -> Path:
    """Synthesize when cdk.out is missing or older than any source it is made from."""
    manifest = outdir / "manifest.json"
    if not manifest.exists() or _newest_source_mtime() > manifest.stat().st_mtime:
        synthesize(outdir)
    return outdir


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = PROJECT_ROOT / name
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


@dataclass(frozen=True)
class StackTemplate:
    name: str
    template: Mapping[str, Any]
    outdir: Path

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == resource_type:
                yield logical_id, resource.get("Properties", {})

    def one_of_type(self, resource_type: str) -> tuple[str, Mapping[str, Any]]:
        found = list(self.of_type(resource_type))
        if len(found) != 1:
            raise LookupError(f"{self.name}: expected one {resource_type}, found {len(found)}")
        return found[0]

    def state_machine_of(self, model: Choreography) -> str:
        """The logical id of the machine of the model's version."""
        name = state_machine_name(model)
        for logical_id, properties in self.of_type("AWS::StepFunctions::StateMachine"):
            if properties.get("StateMachineName") == name:
                return logical_id
        raise LookupError(f"{self.name}: no state machine named {name}")

    def asset_directory(self, function_properties: Mapping[str, Any]) -> Path:
        """Where cdk.out holds a function's code, as staged for deployment."""
        key = function_properties["Code"]["S3Key"]
        return self.outdir / f"asset.{key.split('.')[0]}"


def with_slas(
    stack: StackTemplate, model: Choreography, sla_seconds: int, escalations: int | None = None
) -> StackTemplate:
    """The same stack with every milestone's SLA set to `sla_seconds` (and, given, its escalations): a
    local run cannot wait hours for an order to be late."""
    changes: dict[str, Any] = {"sla_seconds": sla_seconds}
    if escalations is not None:
        changes["escalations"] = escalations
    return with_milestones(stack, model, lambda milestone: dataclasses.replace(milestone, **changes))


def scaled_sla(sla_seconds: int, scale: float) -> int:
    """An SLA multiplied by `scale`, at least a second (a Task's timeout is a positive integer)."""
    return max(1, round(sla_seconds * scale))


def with_sla_scale(stack: StackTemplate, model: Choreography, scale: float) -> StackTemplate:
    """The same stack with every milestone's SLA multiplied by `scale`."""
    return with_milestones(
        stack,
        model,
        lambda milestone: dataclasses.replace(milestone, sla_seconds=scaled_sla(milestone.sla_seconds, scale)),
    )


def with_milestones(
    stack: StackTemplate, model: Choreography, change: Callable[[Milestone], Milestone]
) -> StackTemplate:
    """The same stack with its definition generated, as synthesis does, from the model with every
    milestone changed."""
    template = copy.deepcopy(dict(stack.template))
    logical_id = stack.state_machine_of(model)
    definition = build_definition(model.with_each_milestone(change))
    template["Resources"][logical_id]["Properties"]["DefinitionString"] = json.dumps(definition)
    return StackTemplate(stack.name, template, stack.outdir)


def load_stacks(outdir: Path = DEFAULT_OUTDIR) -> list[StackTemplate]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = []
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] == "aws:cloudformation:stack":
            template_file = outdir / artifact["properties"]["templateFile"]
            stacks.append(StackTemplate(name, json.loads(template_file.read_text()), outdir))
    return stacks
