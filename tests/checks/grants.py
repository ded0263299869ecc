"""IAM coverage: every AWS call a handler makes, and every Task of a generated definition, is granted to
its role on a matching resource; and every grant is used by one of them, or by AWS itself for the role
(listed below with the reason). moto runs every call whatever the role says, so only this check sees a
missing or a spare grant."""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local.assembly import StackTemplate
from local.calls import Call
from local.runtime import LocalRuntime
from tests.checks.policies import Request, allowed, as_list
from tests.checks.publishers import role_statements
from tests.checks.resolve import Resolver

# Grants that AWS exercises with the role, not our code: no call of ours can show them used.
USED_BY_AWS = {
    "logs:CreateLogStream": "Lambda writes the function's own logs with its role",
    "logs:PutLogEvents": "Lambda writes the function's own logs with its role",
    "xray:PutTraceSegments": "active tracing: Lambda and Step Functions send the trace segments",
    "xray:PutTelemetryRecords": "active tracing: Lambda and Step Functions send the trace telemetry",
    "xray:GetSamplingRules": "active tracing: Step Functions reads the sampling rules",
    "xray:GetSamplingTargets": "active tracing: Step Functions reads the sampling targets",
    "logs:CreateLogDelivery": "Step Functions sets up the delivery of its execution logs",
    "logs:DeleteLogDelivery": "Step Functions sets up the delivery of its execution logs",
    "logs:GetLogDelivery": "Step Functions sets up the delivery of its execution logs",
    "logs:ListLogDeliveries": "Step Functions sets up the delivery of its execution logs",
    "logs:UpdateLogDelivery": "Step Functions sets up the delivery of its execution logs",
    "logs:DescribeLogGroups": "Step Functions sets up the delivery of its execution logs",
    "logs:DescribeResourcePolicies": "Step Functions sets up the delivery of its execution logs",
    "logs:PutResourcePolicy": "Step Functions sets up the delivery of its execution logs",
}
ON_FAILURE_REASON = "Lambda sends the asynchronous on-failure record to the destination with the function's role"
SDK_TASK = re.compile(r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<action>[A-Za-z]+)(\.\w+)?$")
OPTIMIZED_TASKS = {"arn:aws:states:::events:putEvents": "events:PutEvents"}
TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True)
class Use:
    role: str  # the role's logical id
    action: str
    resource: str  # the ARN, as AWS authorizes the call
    by: str  # the function or state that made it


class Grants:
    def __init__(self, stack: StackTemplate) -> None:
        self.stack = stack
        self.resolver = Resolver(stack)

    def role_of(self, logical_id: str) -> str:
        """The role a function or state machine runs with."""
        properties = self.stack.resources[logical_id]["Properties"]
        reference = properties.get("Role") or properties["RoleArn"]
        return str(reference["Fn::GetAtt"][0])

    # -- what is used -------------------------------------------------------------------------------

    def definition_uses(self) -> Iterator[Use]:
        """The Task states of every state machine: their service action on the resource named in Parameters."""
        for machine_id, properties in self.stack.of_type("AWS::StepFunctions::StateMachine"):
            role = self.role_of(machine_id)
            for name, state in _states(self.resolver.definition(properties)):
                if state["Type"] != "Task":
                    continue
                for action, resources in self._task_actions(state):
                    for resource in resources:
                        yield Use(role, action, resource, f"{machine_id} state {name!r}")

    def _task_actions(self, state: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
        resource, parameters = state["Resource"], state.get("Parameters", {})
        sdk = SDK_TASK.match(resource)
        if sdk:
            action = f"{sdk['service']}:{sdk['action'][0].upper()}{sdk['action'][1:]}"
        elif resource in OPTIMIZED_TASKS:
            action = OPTIMIZED_TASKS[resource]
        else:
            raise LookupError(f"Task resource {resource} is not mapped to an IAM action here")
        if action == "dynamodb:TransactWriteItems":
            # IAM has no action of that name: each write is authorized as its single-item action
            # (docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
            return [
                (TRANSACTION_ACTIONS[kind], self._resources(TRANSACTION_ACTIONS[kind], write))
                for item in parameters["TransactItems"]
                for kind, write in item.items()
            ]
        return [(action, self._resources(action, parameters))]

    def call_uses(self, calls: Iterable[Call], names: Mapping[str, str]) -> Iterator[Use]:
        """The handlers' calls, their physical names mapped back to the template's resources through
        `names` (the local runtime's logical id -> name, URL or ARN)."""
        logical = {value: key for key, value in names.items()}
        for call in calls:
            parameters = _to_template(call.parameters, logical, self.resolver)
            for resource in self._resources(call.action, parameters):
                yield Use(self.role_of(call.function), call.action, resource, call.function)

    def _resources(self, action: str, parameters: Mapping[str, Any]) -> list[str]:
        service = action.split(":", maxsplit=1)[0]
        if service == "dynamodb":
            tables = [parameters["TableName"]] if "TableName" in parameters else list(parameters["RequestItems"])
            index = f"/index/{parameters['IndexName']}" if "IndexName" in parameters else ""
            return [self._table_arn(table) + index for table in tables]
        if service == "states":
            if "stateMachineArn" in parameters:
                return [parameters["stateMachineArn"]]
            if "taskToken" in parameters:  # a token is issued by an execution of the stack's state machine
                return [
                    self.resolver.arn(machine) for machine, _ in self.stack.of_type("AWS::StepFunctions::StateMachine")
                ]
        if service == "sqs":
            url = parameters["QueueUrl"]
            return [f"arn:aws:sqs:{url.split('/')[2].split('.')[1]}:{url.split('/')[3]}:{url.split('/')[4]}"]
        if service == "events":
            buses = {entry.get("EventBusName", "default") for entry in parameters["Entries"]}
            return [
                f"arn:aws:events:{self.resolver.value({'Ref': 'AWS::Region'})}:"
                f"{self.resolver.value({'Ref': 'AWS::AccountId'})}:event-bus/{bus}"
                for bus in sorted(buses)
            ]
        raise LookupError(f"{action}: no resource mapping for {sorted(parameters)}")

    def _table_arn(self, name: str) -> str:
        for table_id, _ in self.stack.of_type("AWS::DynamoDB::GlobalTable"):
            if self.resolver.physical_name(table_id) == name:
                return self.resolver.arn(table_id)
        raise LookupError(f"no table {name} in {self.stack.name}")

    # -- the checks ---------------------------------------------------------------------------------

    def ungranted(self, uses: Iterable[Use]) -> list[str]:
        missing = []
        for use in set(uses):
            if not allowed(role_statements(self.stack, use.role), Request(use.action, use.resource)):
                missing.append(f"{use.by}: {use.role} is not granted {use.action} on {use.resource}")
        return sorted(missing)

    def unused(self, uses: Iterable[Use], roles: Iterable[str]) -> list[str]:
        """Grants of these roles that no use matches, beyond those AWS itself exercises."""
        uses = list(uses)
        destinations = self._on_failure_destinations()
        spare = []
        for role in roles:
            for statement in role_statements(self.stack, role):
                for action in as_list(statement["Action"]):
                    for resource in as_list(statement["Resource"]):
                        if action in USED_BY_AWS or (action, resource) in destinations.get(role, set()):
                            continue
                        if not any(
                            u.role == role and u.action == action and fnmatch.fnmatchcase(u.resource, resource)
                            for u in uses
                        ):
                            spare.append(f"{role}: {action} on {resource} is granted and never used")
        return sorted(spare)

    def _on_failure_destinations(self) -> dict[str, set[tuple[str, str]]]:
        found: dict[str, set[tuple[str, str]]] = {}
        for _, config in self.stack.of_type("AWS::Lambda::EventInvokeConfig"):
            destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination is not None:
                role = self.role_of(config["FunctionName"]["Ref"])
                found.setdefault(role, set()).add(("sqs:SendMessage", self.resolver.value(destination)))
        return found


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state or "Iterator" in state:
            yield from _states(state.get("ItemProcessor") or state["Iterator"])


def _to_template(value: Any, logical: Mapping[str, str], resolver: Resolver) -> Any:
    """Replace each local physical name (the runtime's) by the template's resolved one."""
    if isinstance(value, str):
        if value in logical:
            logical_id = logical[value]
            kind = resolver.type_of(logical_id)
            return resolver.arn(logical_id) if kind == "AWS::StepFunctions::StateMachine" else resolver.ref(logical_id)
        return value
    if isinstance(value, Mapping):
        return {_to_template(k, logical, resolver): _to_template(v, logical, resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_template(item, logical, resolver) for item in value]
    return value


@contextlib.contextmanager
def checked_runtime(stack: StackTemplate) -> Iterator[LocalRuntime]:
    """A local runtime whose handlers' AWS calls must each be granted to the function's role in the
    template: moto runs any call, so a missing grant would otherwise show only in a real account."""
    with LocalRuntime(stack) as running:
        yield running
        grants = Grants(running.stack)  # the stack last deployed, which grants what every version calls
        missing = grants.ungranted(grants.call_uses(running.handler_calls(), running.names))
        assert not missing, "calls the template does not grant:\n" + "\n".join(missing)
