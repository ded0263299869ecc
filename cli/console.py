"""`python -m cli console`: the web console against deployed stacks, served on this machine.

The browser talks to a server on 127.0.0.1 only; that server reads for it with your AWS credentials
(the status URL, signed; Step Functions for the one order open; the queues; Step Functions' metrics),
which never reach the page. The stack's ConsoleReadersPolicyArn output grants exactly these reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from cli.client import StatusClient
from cli.redrive import QUEUE_OUTPUTS
from cli.stack import required, stack_outputs
from console.executions import metric_counts
from console.source import StackSource

# Step Functions' metrics have a one-minute resolution: a page refreshed every few seconds reads them
# once a minute.
COUNTS_TTL_SECONDS = 60.0
OUTPUTS = ("StatusUrl", "StateMachineArn", "StateMachineArns", *QUEUE_OUTPUTS.values())


def stack_source(session: Any, stack: str, endpoint_url: str | None = None) -> StackSource:
    """A deployed monitor stack's console data, found by the stack's outputs."""
    region = session.region_name or "us-east-1"

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    status_url, machine_arn, machine_arns, *queue_urls = required(
        stack_outputs(client("cloudformation"), stack), stack, OUTPUTS
    )
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit(
            "no AWS credentials found: configure a profile, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return StackSource(
        status=StatusClient(status_url, credentials, region),
        stepfunctions=client("stepfunctions"),
        sqs=client("sqs"),
        state_machine_arn=machine_arn,
        state_machine_arns=machine_arns.split(","),
        queue_urls=dict(zip(QUEUE_OUTPUTS, queue_urls, strict=True)),
        count_executions=partial(metric_counts, client("cloudwatch"), machine_arns.split(",")),
        counts_ttl_seconds=COUNTS_TTL_SECONDS,
    )


def stack_sources(session: Any, stacks: Sequence[str], endpoint_url: str | None = None) -> list[StackSource]:
    return [stack_source(session, stack, endpoint_url) for stack in dict.fromkeys(stacks)]
