"""cdk-nag findings this design accepts, each with the reason it is right here.

Every acknowledgment names one finding on one construct; a new finding anywhere fails synthesis.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from stacks.constructs.functions import MonitorFunction
from stacks.constructs.workflow import ChoreographyWorkflow

WILDCARD_RESOURCE = "AwsSolutions-IAM5[Resource::*]"

ACKNOWLEDGMENTS = {
    "state machine role": (
        WILDCARD_RESOURCE,
        "X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs vended delivery "
        "(CreateLogDelivery and related) offer no resource-level permissions; AWS documents Resource '*' for both.",
    ),
    "function tracing": (
        WILDCARD_RESOURCE,
        "xray:PutTraceSegments and xray:PutTelemetryRecords offer no resource-level permissions; AWS documents "
        "Resource '*' for active tracing.",
    ),
    "state machine logging level": (
        "AwsSolutions-SF1",
        "Logging ALL events writes every state transition to CloudWatch Logs on every order, which would cost "
        "more than the state machine itself; the execution history keeps every event for 90 days, and the log "
        "level is a setting (stateMachineLogLevel) for those who want ALL.",
    ),
    "console metrics": (
        WILDCARD_RESOURCE,
        "cloudwatch:GetMetricData offers no resource-level permissions; AWS documents Resource '*' for it. The "
        "console reads Step Functions' execution metrics of this stack's state machine with it, nothing else.",
    ),
    "console executions": (
        # The state machine's logical id is filled in: cdk-nag names the resource as the template does.
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        "<{state_machine}.Name>:*]",
        "The console draws the execution of whichever order its user opens: each is named by its order id, so "
        "the executions of each of this stack's state machines (one per shipped model version) are the narrowest resource there is.",
    ),
    "dead-letter queue": (
        "AwsSolutions-SQS3",
        "This queue is itself a dead-letter destination (of a rule target, of the correlator's asynchronous "
        "invocations, or the quarantine); it is drained by the redrive command, not by a consumer that fails.",
    ),
}


def _acknowledge(construct: object, kind: str, **names: str) -> None:
    finding, reason = ACKNOWLEDGMENTS[kind]
    Validations.of(construct).acknowledge(Acknowledgment(id=finding.format(**names), reason=reason))


def acknowledge_findings(
    *,
    workflow: ChoreographyWorkflow,
    functions: tuple[MonitorFunction, ...],
    dead_letter_queues: tuple[sqs.Queue, ...],
    console_readers: iam.ManagedPolicy,
) -> None:
    _acknowledge(console_readers, "console metrics")
    stack = Stack.of(workflow)
    for state_machine in workflow.state_machines.values():
        machine = state_machine.node.default_child
        assert isinstance(machine, CfnElement)
        logical_id = stack.resolve(stack.get_logical_id(machine))
        _acknowledge(console_readers, "console executions", state_machine=logical_id)
        _acknowledge(state_machine.role, "state machine role")
        _acknowledge(state_machine, "state machine logging level")
    for function in functions:
        _acknowledge(function.function, "function tracing")
    for queue in dead_letter_queues:
        _acknowledge(queue, "dead-letter queue")
