"""Build every model's stack into an app, with cdk-nag's AwsSolutions checks on all of them."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from lambdas.choreography.versions import load_versions
from stacks.config import MonitorSettings
from stacks.monitor_stack import ChoreographyMonitorStack
from stacks.names import stack_name
from stacks.packaging import MODELS_DIR


def build_app(app: cdk.App, models_dir: Path = MODELS_DIR) -> list[ChoreographyMonitorStack]:
    settings = MonitorSettings.from_context(app)
    paths = sorted(models_dir.glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"{models_dir}: no choreography model (*.json) to deploy")
    stacks = []
    for path in paths:
        versions = load_versions(path)
        stacks.append(
            ChoreographyMonitorStack(
                app, stack_name(versions.current), versions=versions, model_path=path, settings=settings
            )
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks
