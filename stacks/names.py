"""Names a deployed stack is known by, without importing the CDK (the command line uses them)."""

from __future__ import annotations

from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import state_machine_name

__all__ = ["stack_name", "state_machine_name"]


def stack_name(model: Choreography) -> str:
    return "".join(part.capitalize() for part in model.name.split("-")) + "Monitor"
