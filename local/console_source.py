"""The console's data from the local runtime (make serve): in this process, its status function invoked
as its URL would invoke it; from another process serving a model, its status URL and endpoint, read as
`python -m cli console` reads a deployed stack."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.credentials import Credentials

from cli.client import StatusClient, StatusError
from cli.redrive import QUEUE_OUTPUTS
from console.executions import listed_counts
from console.source import StackSource
from local.gateway import LOCAL_CREDENTIALS, function_url_event
from local.runtime import REGION, LocalRuntime


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


def queue_urls(runtime: LocalRuntime) -> dict[str, str]:
    outputs = runtime.stack.template["Outputs"]
    return {name: runtime.resolve(outputs[output]["Value"]) for name, output in QUEUE_OUTPUTS.items()}


def local_source(runtime: LocalRuntime) -> StackSource:
    return StackSource(
        status=LocalStatus(runtime),
        stepfunctions=runtime.stepfunctions,
        sqs=runtime.sqs,
        state_machine_arn=runtime.state_machine_arn,
        state_machine_arns=runtime.state_machine_arns,
        queue_urls=queue_urls(runtime),
        # The local Step Functions emits no metrics: its executions are listed (every one, each refresh).
        count_executions=partial(listed_counts, runtime.stepfunctions, runtime.state_machine_arns),
    )


@dataclass(frozen=True)
class Served:
    """What a `local.serve` process serves, for a console in another process to read it by."""

    endpoint: str
    status_url: str
    state_machine_arn: str
    state_machine_arns: list[str]
    queue_urls: dict[str, str]

    @classmethod
    def of(cls, runtime: LocalRuntime, status_url: str) -> Served:
        endpoint = f"http://127.0.0.1:{runtime.port}"
        return cls(endpoint, status_url, runtime.state_machine_arn, runtime.state_machine_arns, queue_urls(runtime))

    def write(self, path: Path) -> None:
        """Whole or not at all: the reader polls for the file."""
        partial_file = path.with_suffix(".partial")
        partial_file.write_text(json.dumps(asdict(self)), encoding="utf-8")
        partial_file.rename(path)

    @classmethod
    def read(cls, path: Path) -> Served:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def source(self) -> StackSource:
        (key, secret), *_ = LOCAL_CREDENTIALS.items()

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
            )

        stepfunctions = client("stepfunctions")
        return StackSource(
            status=StatusClient(self.status_url, Credentials(key, secret), REGION),
            stepfunctions=stepfunctions,
            sqs=client("sqs"),
            state_machine_arn=self.state_machine_arn,
            state_machine_arns=self.state_machine_arns,
            queue_urls=self.queue_urls,
            count_executions=partial(listed_counts, stepfunctions, self.state_machine_arns),
        )
