"""CDK assertions on every resource of a model's stack, on the template `cdk synth` produces."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.choreography import table as layout
from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions
from lambdas.conformance import ended
from local.assembly import StackTemplate
from stacks.rules import event_patterns


@pytest.fixture(scope="module")
def template(order_stack: StackTemplate) -> Template:
    return Template.from_json(dict(order_stack.template))


def _function(stack: StackTemplate, handler: str) -> tuple[str, dict[str, Any]]:
    for logical_id, properties in stack.of_type("AWS::Lambda::Function"):
        if properties["Handler"] == handler:
            return logical_id, dict(properties)
    raise AssertionError(f"no function with handler {handler}")


def test_bus_is_custom_and_admits_the_deploying_account(template: Template) -> None:
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "order-fulfillment-events"})
    template.resource_count_is("AWS::Events::EventBusPolicy", 1)
    template.has_resource_properties(
        "AWS::Events::EventBusPolicy",
        {
            "Statement": {
                "Action": "events:PutEvents",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Join": ["", Match.array_with([":iam::", {"Ref": "AWS::AccountId"}])]}},
                "Resource": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
            }
        },
    )


def test_one_rule_per_source_with_retries_and_dead_letters(
    template: Template, order_stack: StackTemplate, order_model: Choreography
) -> None:
    correlator_id, _ = _function(order_stack, "lambdas.correlator.handler.handler")
    rules = [
        (i, p)
        for i, p in order_stack.of_type("AWS::Events::Rule")
        if p["EventPattern"]["source"] not in ([order_model.monitor_source], [ended.SOURCE])
    ]
    assert len(rules) == len(order_model.sources)
    patterns = {properties["EventPattern"]["source"][0]: properties["EventPattern"] for _, properties in rules}
    assert patterns == event_patterns(Versions(order_model))
    for _, properties in rules:
        assert properties["EventBusName"]["Ref"].startswith("EventsBus")
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [correlator_id, "Arn"]}
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
        assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("RuleDeadLetters")
    every_event = sorted(name for pattern in patterns.values() for name in pattern["detail-type"])
    assert every_event == sorted(order_model.events)


def test_table_is_on_demand_recoverable_expiring_and_encrypted(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": layout.PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": layout.SORT_KEY, "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": layout.TTL_ATTRIBUTE, "Enabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "Replicas": [Match.object_like({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})],
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": layout.STATUS_INDEX,
                        "KeySchema": [
                            {"AttributeName": layout.STATUS, "KeyType": "HASH"},
                            {"AttributeName": layout.STATUS_UPDATED_AT, "KeyType": "RANGE"},
                        ],
                    }
                ),
                Match.object_like(
                    {
                        "IndexName": layout.DEVIATION_INDEX,
                        "KeySchema": [
                            {"AttributeName": layout.DEVIATING, "KeyType": "HASH"},
                            {"AttributeName": layout.DEVIATING_SINCE, "KeyType": "RANGE"},
                        ],
                    }
                ),
            ],
        },
    )


def test_state_machine_is_standard_traced_and_logged(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "order-fulfillment-1.0.0",
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ERROR",
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}],
            },
            "DefinitionSubstitutions": {"TableName": {"Ref": Match.string_like_regexp("^StateTable")}},
        },
    )


@pytest.mark.parametrize("handler", ["lambdas.correlator.handler.handler", "lambdas.status.handler.handler"])
def test_functions_run_arm64_newest_python_with_powertools(order_stack: StackTemplate, handler: str) -> None:
    _, properties = _function(order_stack, handler)
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(properties["Layers"]) == 1
    variables = properties["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ChoreographyMonitor"
    assert variables["CHOREOGRAPHY_MODEL"] == "choreography.json"
    assert variables["TABLE_NAME"]["Ref"].startswith("StateTable")
    code = order_stack.asset_directory(properties)
    assert (code / "choreography.json").is_file()
    assert (code / "lambdas" / "correlator" / "handler.py").is_file()


def test_dependencies_layer_holds_arm64_wheels(order_stack: StackTemplate) -> None:
    ((_, layer),) = order_stack.of_type("AWS::Lambda::LayerVersion")
    assert layer["CompatibleArchitectures"] == ["arm64"]
    python = order_stack.outdir / f"asset.{layer['Content']['S3Key'].split('.')[0]}" / "python"
    assert (python / "aws_lambda_powertools").is_dir()
    assert (python / "jsonschema").is_dir()
    compiled = list((python / "rpds").glob("*.so"))
    assert compiled
    assert all("aarch64" in path.name for path in compiled)


def test_correlator_failures_go_to_a_dead_letter_queue(template: Template, order_stack: StackTemplate) -> None:
    correlator_id, properties = _function(order_stack, "lambdas.correlator.handler.handler")
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": correlator_id},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": {"Fn::GetAtt": [Match.string_like_regexp("^CorrelatorDeadLetters"), "Arn"]}
                }
            },
        },
    )
    assert properties["Environment"]["Variables"]["QUARANTINE_QUEUE_URL"]["Ref"].startswith("Quarantine")


def test_status_function_url_requires_iam(template: Template, order_stack: StackTemplate) -> None:
    status_id, _ = _function(order_stack, "lambdas.status.handler.handler")
    template.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": "AWS_IAM", "TargetFunctionArn": {"Fn::GetAtt": [status_id, "Arn"]}}
    )
    # No resource policy opens the URL: only identities whose own policies allow lambda:InvokeFunctionUrl
    # get through, every other caller gets 403.
    permissions = [p for _, p in order_stack.of_type("AWS::Lambda::Permission")]
    assert not [p for p in permissions if p["Action"] == "lambda:InvokeFunctionUrl"]


def test_queues_are_encrypted_tls_only_and_keep_14_days(template: Template, order_stack: StackTemplate) -> None:
    queues = dict(order_stack.of_type("AWS::SQS::Queue"))
    assert {name.rstrip("0123456789ABCDEF") for name in queues} == {
        "RuleDeadLetters",
        "CorrelatorDeadLetters",
        "EndCheckDeadLetters",
        "Quarantine",
    }
    for properties in queues.values():
        assert properties["SqsManagedSseEnabled"] is True
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    template.resource_properties_count_is(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
        len(queues),
    )


def test_outputs_name_what_a_user_needs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    for name in (
        "BusName",
        "StateMachineArn",
        "StatusUrl",
        "TableName",
        "QuarantineQueueUrl",
        "RuleDeadLettersUrl",
        "CorrelatorDeadLettersUrl",
    ):
        assert name in outputs, name
    assert outputs["StatusUrl"]["Value"]["Fn::GetAtt"][1] == "FunctionUrl"


def test_status_readers_get_both_actions_a_function_url_caller_needs(order_stack: StackTemplate) -> None:
    """Since October 2025 a caller of a new AWS_IAM Function URL needs lambda:InvokeFunction as well as
    lambda:InvokeFunctionUrl (Lambda docs, "Control access to Lambda function URLs")."""
    ((policy_id, policy),) = [
        (i, p) for i, p in order_stack.of_type("AWS::IAM::ManagedPolicy") if i.startswith("StatusReaders")
    ]
    statements = policy["PolicyDocument"]["Statement"]
    assert sorted(s["Action"] for s in statements) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    function_id, _ = next((i, f) for i, f in order_stack.of_type("AWS::Lambda::Function") if i.startswith("Status"))
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] == {"Fn::GetAtt": [function_id, "Arn"]}  # the status function alone
    by_action = {s["Action"]: s["Condition"] for s in statements}
    assert by_action["lambda:InvokeFunctionUrl"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    assert by_action["lambda:InvokeFunction"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert order_stack.template["Outputs"]["StatusReadersPolicyArn"]["Value"] == {"Ref": policy_id}


def test_second_model_deploys_through_the_same_code(
    stacks: dict[str, StackTemplate], return_model: Choreography
) -> None:
    stack = stacks["ReturnRefundMonitor"]
    ((_, machine),) = stack.of_type("AWS::StepFunctions::StateMachine")
    assert machine["StateMachineName"] == "return-refund-1.1.0"
    # and the stuck notices, and the executions' ends
    assert len(list(stack.of_type("AWS::Events::Rule"))) == len(return_model.sources) + 2
    ((_, bus),) = stack.of_type("AWS::Events::EventBus")
    assert bus["Name"] == "return-refund-events"
