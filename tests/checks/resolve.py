"""CloudFormation values as AWS would resolve them, in a made-up account: each resource's physical name,
what `Ref` and `Fn::GetAtt` give for it, and the ARN a policy or a metric must name.

Only what the monitor's templates use is known; anything else raises, so a new kind of value is seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local.assembly import StackTemplate

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/stack/3f1e5a60-0000-4000-8000-000000000000",
}
NAME_PROPERTY = {
    "AWS::Events::Rule": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Archive": "ArchiveName",
}


class Resolver:
    def __init__(self, stack: StackTemplate) -> None:
        self.stack = stack

    def type_of(self, logical_id: str) -> str:
        return str(self.stack.resources[logical_id]["Type"])

    def physical_name(self, logical_id: str) -> str:
        properties = self.stack.resources[logical_id].get("Properties", {})
        explicit = properties.get(NAME_PROPERTY.get(self.type_of(logical_id), ""))
        return str(self.value(explicit)) if explicit is not None else f"{self.stack.name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind, name = self.type_of(logical_id), self.physical_name(logical_id)
        formats = {
            "AWS::Events::Rule": "arn:aws:events:{r}:{a}:rule/{bus_path}{n}",
            "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
            "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
            "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{n}",
            "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{n}",
            "AWS::DynamoDB::GlobalTable": "arn:aws:dynamodb:{r}:{a}:table/{n}",
            "AWS::CloudWatch::Alarm": "arn:aws:cloudwatch:{r}:{a}:alarm:{n}",
            "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}:*",
            "AWS::IAM::Role": "arn:aws:iam::{a}:role/{n}",
            "AWS::IAM::ManagedPolicy": "arn:aws:iam::{a}:policy/{n}",
            "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}",
            "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/{n}",
            "AWS::Events::Archive": "arn:aws:events:{r}:{a}:archive/{n}",
        }
        if kind not in formats:
            raise LookupError(f"{logical_id}: no ARN known for {kind}")
        bus = self.rule_bus(logical_id) if kind == "AWS::Events::Rule" else "default"
        bus_path = "" if bus == "default" else f"{bus}/"
        return formats[kind].format(r=REGION, a=ACCOUNT, n=name, bus_path=bus_path)

    def rule_bus(self, logical_id: str) -> str:
        bus = self.stack.resources[logical_id]["Properties"].get("EventBusName", "default")
        return str(self.value(bus))

    def ref(self, logical_id: str) -> str:
        if logical_id in PSEUDO:
            return PSEUDO[logical_id]
        kind, name = self.type_of(logical_id), self.physical_name(logical_id)
        if kind == "AWS::Events::Rule":
            bus = self.rule_bus(logical_id)
            return name if bus == "default" else f"{bus}|{name}"  # what AWS documents for Ref of a rule
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind in ("AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"):
            return self.arn(logical_id)
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "Name"):
            return self.physical_name(logical_id)
        if attribute == "QueueUrl":
            return self.ref(logical_id)
        raise LookupError(f"{logical_id}: Fn::GetAtt {attribute} is not known here")

    def definition(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """A state machine's definition as Step Functions gets it: its substitutions resolved."""
        text = str(properties["DefinitionString"])
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + key + "}", str(self.value(value)))
        definition: dict[str, Any] = json.loads(text)
        return definition

    def value(self, value: Any) -> Any:
        """A template value with every intrinsic function resolved."""
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {key: self.value(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.value(part)) for part in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.value(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.value(text)).split(separator)
        raise LookupError(f"{function} is not resolved here: {json.dumps(value)[:200]}")
