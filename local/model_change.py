"""A model change as a team ships one with orders open: version 2 of a model (a milestone added at the
end, one renamed, an SLA changed), and a models directory that ships it with the earlier version kept
beside it, as the README says. The tests and `make bench` deploy it over version 1 on the local runtime."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lambdas.choreography.model import Choreography, load_model
from lambdas.choreography.versions import earlier_versions_directory
from local.assembly import StackTemplate, load_stacks, synthesize

NEXT_VERSION = "2.0.0"
ADDED_MILESTONE = "Invoicing"
ADDED_EVENT = "InvoiceSent"


def next_version(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 of `document`: its first milestone's SLA doubled, its third renamed, and a milestone
    added after the last, awaiting an event from a service the first version never heard of."""
    changed = copy.deepcopy(document)
    changed["version"] = NEXT_VERSION
    milestones = changed["milestones"]
    milestones[0]["slaSeconds"] *= 2
    milestones[2]["name"] = f"{milestones[2]['name']}Check"
    last_event = milestones[-1]["success"][0]
    milestones.append({"name": ADDED_MILESTONE, "slaSeconds": 3600, "success": [ADDED_EVENT]})
    # Shaped as the last milestone's event (the correlation key, the event time), from a new service.
    changed["events"][ADDED_EVENT] = {**copy.deepcopy(changed["events"][last_event]), "source": "com.example.billing"}
    return changed


def ship(models_dir: Path, file_name: str, current: dict[str, Any], *earlier: dict[str, Any]) -> Path:
    """Write `current` as the model and each earlier version beside it, as the README says to keep them;
    return the current model's path."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / file_name
    path.write_text(json.dumps(current, indent=2), encoding="utf-8")
    for document in earlier:
        kept = earlier_versions_directory(path) / f"{document['version']}.json"
        kept.parent.mkdir(exist_ok=True)
        kept.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def synthesize_change(model_path: Path, outdir: Path) -> tuple[StackTemplate, Choreography]:
    """The model's stack shipping its version 2 with version 1 kept beside it, synthesized under
    `outdir`; and version 2."""
    first = json.loads(model_path.read_text(encoding="utf-8"))
    current = ship(outdir / "models", model_path.name, next_version(first), first)
    (stack,) = load_stacks(synthesize(outdir / "cdk.out", models_dir=current.parent))
    return stack, load_model(current)
