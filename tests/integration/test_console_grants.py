"""The console's read-only policy against what the console reads: every AWS call `python -m cli console`
makes for a session of pages is allowed by the stack's ConsoleReaders policy, on the resource AWS
authorizes it on, and every statement of the policy is used by one of them. moto checks no IAM: only
this sees a page that would answer AccessDenied, or a grant nobody needs."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from cli.console import stack_source
from cli.redrive import QUEUE_OUTPUTS
from console.overview import overview
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.calls import handler_invocation
from local.events import EventFactory
from local.gateway import serve_status
from local.runtime import LocalRuntime
from tests.checks.policies import Request, allowed, as_list
from tests.checks.resolve import Resolver
from tests.integration.conftest import stack_with_outputs

IAM_PREFIX = {"monitoring": "cloudwatch"}  # botocore's signing name where IAM's differs
READ_ONLY = ("Describe", "Get", "ReceiveMessage", "InvokeFunction")
STATUS_URL_CONTEXT = {
    "lambda:InvokeFunctionUrl": {"lambda:FunctionUrlAuthType": "AWS_IAM"},
    "lambda:InvokeFunction": {"lambda:InvokedViaFunctionUrl": "true"},
}


@pytest.fixture(scope="module")
def runtime(order_stack: StackTemplate) -> Iterator[LocalRuntime]:
    with LocalRuntime(order_stack) as running:
        yield running


def _policy(stack: StackTemplate, name: str) -> list[Mapping[str, Any]]:
    (logical_id,) = [i for i, _ in stack.of_type("AWS::IAM::ManagedPolicy") if i.startswith(name)]
    statements: list[Mapping[str, Any]] = Resolver(stack).value(stack.resources[logical_id]["Properties"])[
        "PolicyDocument"
    ]["Statement"]
    return statements


def _template_resource(runtime: LocalRuntime, resolver: Resolver, action: str, parameters: Mapping[str, Any]) -> str:
    """The ARN AWS authorizes the call on, named as in the template (the runtime names things its own way)."""
    (machine_id, _), *_ = runtime.stack.of_type("AWS::StepFunctions::StateMachine")
    machine = resolver.arn(machine_id)
    by_url = {url: logical_id for logical_id, url in runtime.names.items()}
    if "executionArn" in parameters:
        return f"{machine.replace(':stateMachine:', ':execution:')}:{parameters['executionArn'].rsplit(':', 1)[1]}"
    if "stateMachineArn" in parameters:
        assert parameters["stateMachineArn"] == runtime.state_machine_arn
        return machine
    if "QueueUrl" in parameters:
        return resolver.arn(by_url[parameters["QueueUrl"]])
    if action == "cloudformation:DescribeStacks":
        return str(resolver.value({"Ref": "AWS::StackId"}))
    if action == "cloudwatch:GetMetricData":
        return "*"
    raise LookupError(f"{action}: no resource known for {sorted(parameters)}")


def test_every_read_of_the_console_is_granted_by_its_policy_and_every_grant_is_read(
    runtime: LocalRuntime, order_stack: StackTemplate, order_model: Choreography
) -> None:
    order_id = f"ORD-grants-{time.monotonic_ns() % 10**6}"
    runtime.deliver(EventFactory(order_model).event(order_model.start_event, order_id))
    runtime.deliver(EventFactory(order_model).event(order_model.start_event, "ORD/refused"))  # for a sample
    assert runtime.wait_until_waiting(order_id, order_model.milestones[0].name)
    outputs = order_stack.template["Outputs"]
    with serve_status(runtime, 0) as status_url:
        values = {name: runtime.resolve(outputs[name]["Value"]) for name in QUEUE_OUTPUTS.values()}
        values |= {
            "StatusUrl": status_url,
            "StateMachineArn": runtime.state_machine_arn,
            "StateMachineArns": ",".join(runtime.state_machine_arns),
        }
        name = stack_with_outputs(runtime, f"Grants{time.monotonic_ns() % 10**6}", values)
        made_before = len(runtime.calls.made)
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
        with handler_invocation("Console"):  # the runtime's call observer records what the console calls
            source = stack_source(session, name)
            overview(source)
            source.model_graph()
            order = source.order(order_id)
            source.graph(order["executionArn"], order_id)
            for queue in source.queue_urls:  # each queue's page of messages
                source.sample(queue)
    calls = [call for call in runtime.calls.made[made_before:] if call.function == "Console"]
    resolver = Resolver(order_stack)
    (status_id, _), *_ = [(i, p) for i, p in order_stack.of_type("AWS::Lambda::Function") if i.startswith("Status")]
    uses: list[tuple[str, str, Mapping[str, str]]] = []
    for call in calls:
        action = f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}"
        uses.append((action, _template_resource(runtime, resolver, action, call.parameters), {}))
    # The status URL's calls are HTTP requests, not botocore's: one action pair per request, as AWS checks it.
    uses += [(action, resolver.arn(status_id), context) for action, context in STATUS_URL_CONTEXT.items()]
    assert {action for action, _, _ in uses} >= {
        "states:DescribeStateMachine",
        "states:DescribeStateMachineForExecution",
        "states:GetExecutionHistory",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "cloudwatch:GetMetricData",
        "cloudformation:DescribeStacks",
    }
    statements = _policy(order_stack, "ConsoleReaders")
    refused = [f"{a} on {r}" for a, r, c in uses if not allowed(statements, Request(a, r, context=c))]
    assert refused == []
    spare = [
        f"{action} on {resource}"
        for statement in statements
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if not any(a == action and fnmatch.fnmatchcase(r, resource) for a, r, _ in uses)
    ]
    assert spare == []
    assert all(action.split(":")[1].startswith(READ_ONLY) for s in statements for action in as_list(s["Action"]))


def test_the_stack_outputs_the_console_readers_policy(order_stack: StackTemplate) -> None:
    (logical_id,) = [i for i, _ in order_stack.of_type("AWS::IAM::ManagedPolicy") if i.startswith("ConsoleReaders")]
    assert order_stack.template["Outputs"]["ConsoleReadersPolicyArn"]["Value"] == {"Ref": logical_id}
