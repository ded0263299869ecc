"""A deployed monitor stack, known by its CloudFormation outputs (what `cdk deploy` prints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MissingOutputs(LookupError):
    """The stack lacks an output a command reads: not a monitor stack, or an older one."""


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: str(output["OutputValue"]) for output in stacks[0].get("Outputs", [])}


def required(outputs: Mapping[str, str], stack_name: str, keys: Sequence[str]) -> list[str]:
    """The values of these outputs, in order, or MissingOutputs naming the ones the stack lacks."""
    missing = [key for key in keys if key not in outputs]
    if missing:
        raise MissingOutputs(
            f"stack {stack_name} has no {', '.join(missing)} output: is it a choreography monitor stack?"
        )
    return [outputs[key] for key in keys]
