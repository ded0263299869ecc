"""The models shipped under choreographies/, and choosing among them by name (--model)."""

from __future__ import annotations

from pathlib import Path

from lambdas.choreography.model import Choreography, load_model
from stacks.packaging import MODELS_DIR


class UnknownModel(ValueError):
    """A --model that names none of the shipped models; the message lists the ones there are."""


def shipped_models() -> list[tuple[Path, Choreography]]:
    return [(path, load_model(path)) for path in sorted(MODELS_DIR.glob("*.json"))]


def chosen_models(name: str | None) -> list[tuple[Path, Choreography]]:
    """Every shipped model, or the one named."""
    models = shipped_models()
    if name is None:
        return models
    chosen = [(path, model) for path, model in models if model.name == name]
    if not chosen:
        names = ", ".join(model.name for _, model in models)
        raise UnknownModel(f"--model: no model is named {name!r} under {MODELS_DIR.name}/; there are: {names}")
    return chosen
