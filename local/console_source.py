"""The console's data from the local runtime (make serve): its status function invoked in this process
as its URL would invoke it, its Step Functions, its queues."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import urlencode

from cli.client import StatusError
from cli.redrive import QUEUE_OUTPUTS
from console.executions import listed_counts
from console.source import StackSource
from local.gateway import function_url_event
from local.runtime import LocalRuntime


class LocalStatus:
    """The status function of the runtime, answering as its URL would."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.function = runtime.function_with_handler("lambdas.status.handler.handler")

    def get(self, path: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        target = f"/{path}" + (f"?{urlencode(sorted(parameters.items()))}" if parameters else "")
        response = self.runtime.invoke(self.function, function_url_event("GET", target, {}, b""))
        body: dict[str, Any] = json.loads(response["body"])
        if response["statusCode"] != 200:
            raise StatusError(response["statusCode"], body.get("message", "no message"))
        return body


def local_source(runtime: LocalRuntime) -> StackSource:
    outputs = runtime.stack.template["Outputs"]
    return StackSource(
        status=LocalStatus(runtime),
        stepfunctions=runtime.stepfunctions,
        sqs=runtime.sqs,
        state_machine_arn=runtime.state_machine_arn,
        queue_urls={name: runtime.resolve(outputs[output]["Value"]) for name, output in QUEUE_OUTPUTS.items()},
        # The local Step Functions emits no metrics: its executions are listed (every one, each refresh).
        count_executions=partial(listed_counts, runtime.stepfunctions, runtime.state_machine_arn),
    )
