#!/usr/bin/env python3
"""The CDK app: one monitor stack for every choreography model under choreographies/."""

from __future__ import annotations

import aws_cdk as cdk

from stacks.app_builder import build_app

app = cdk.App()
build_app(app)
app.synth()
