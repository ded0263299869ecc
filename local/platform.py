"""What AWS does around the handlers: EventBridge routes events by the template's rules, and Lambda runs
asynchronous invocations with retries, then hands a failing event to the function's on-failure destination.

moto matches events against the rules' patterns (and applies input transformers) itself, but cannot
invoke a Lambda target without Docker. So each rule is created on moto's bus as the template defines it,
and what moto would invoke a Lambda target with waits in the function's inbox (local/moto_fixes.py);
`pump` hands it to the real handler, as Lambda's asynchronous invocation would. An SNS topic target (the
alerts) becomes a queue, holding what the topic's subscribers would receive. The bus's archive is created as the template
defines it, so a replay of it goes through the same rules. Each execution's end is put on the default
bus, as Step Functions does, for the rule that invokes the end check.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.moto_fixes import ended_executions, lambda_inbox

if TYPE_CHECKING:
    from local.runtime import LocalFunction, LocalRuntime

ASYNC_ATTEMPTS_DEFAULT = 3  # Lambda's default: the invocation and two retries
TARGET_FIELDS = ("InputPath", "InputTransformer", "Input")


@dataclass(frozen=True)
class Route:
    rule: str
    function: LocalFunction
    inbox: deque[Any]


class LocalPlatform:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.events = runtime.session_client("events")
        self.routes: list[Route] = []
        self.notifications: dict[str, str] = {}  # rule -> the queue standing for its SNS topic target
        self.bus_name = ""
        self.services_buses: set[str] = set()  # buses of the services' own that rules forward from
        self.failed_deliveries = 0
        self.rules: set[str] = set()  # the rules created, by logical id

    def create(self) -> None:
        ended_executions().clear()  # left by an earlier runtime of this process
        bus_id, bus = self.runtime.stack.one_of_type("AWS::Events::EventBus")
        self.bus_name = bus["Name"]
        self.events.create_event_bus(Name=self.bus_name)
        self.runtime.names[bus_id] = self.bus_name
        bus_arn = self.runtime.arns[bus_id] = self.bus_arn
        for rule_id, rule in self.runtime.stack.of_type("AWS::Events::Rule"):
            self._create_rule(rule_id, rule, bus_id, bus_arn)
        for _, archive in self.runtime.stack.of_type("AWS::Events::Archive"):
            self.events.create_archive(
                ArchiveName=archive["ArchiveName"],
                EventSourceArn=bus_arn,
                EventPattern=json.dumps(archive.get("EventPattern", {})),
                RetentionDays=archive.get("RetentionDays", 0),
            )

    def _create_rule(self, rule_id: str, rule: Mapping[str, Any], bus_id: str, bus_arn: str) -> None:
        self.rules.add(rule_id)
        bus_name = self._put_rule(rule_id, rule)
        for number, target in enumerate(rule.get("Targets", [])):
            if target["Arn"] == {"Fn::GetAtt": [bus_id, "Arn"]}:  # forwarded from the services' bus
                self.events.put_targets(
                    Rule=rule_id, EventBusName=bus_name, Targets=[{"Id": f"t{number}", "Arn": bus_arn}]
                )
                continue
            kept = {name: target[name] for name in TARGET_FIELDS if name in target}
            if not self._is_topic(target["Arn"]):
                function = self._function_of(target["Arn"])
                arn = self.runtime.arns[function.logical_id]
                inbox = lambda_inbox(arn)
                inbox.clear()  # left by an earlier runtime of this process; before any event can come
                self.events.put_targets(
                    Rule=rule_id, EventBusName=bus_name, Targets=[{"Id": f"t{number}", "Arn": arn, **kept}]
                )
                self.routes.append(Route(rule_id, function, inbox))
                continue
            queue_url = self.runtime.sqs.create_queue(QueueName=f"local-{rule_id}-{number}")["QueueUrl"]
            queue_arn = self.runtime.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            self.events.put_targets(
                Rule=rule_id, EventBusName=bus_name, Targets=[{"Id": f"t{number}", "Arn": queue_arn, **kept}]
            )
            self.notifications[rule_id] = queue_url

    def deploy(self) -> None:
        """The runtime's stack was deployed anew: rules change their patterns (a new model version routes
        its events too), new rules are created, and the archive keeps what the new pattern names."""
        bus_id, _ = self.runtime.stack.one_of_type("AWS::Events::EventBus")
        bus_arn = self.bus_arn
        for rule_id, rule in self.runtime.stack.of_type("AWS::Events::Rule"):
            if rule_id not in self.rules:
                self._create_rule(rule_id, rule, bus_id, bus_arn)
            else:
                self._put_rule(rule_id, rule)
        for _, archive in self.runtime.stack.of_type("AWS::Events::Archive"):
            self.events.update_archive(
                ArchiveName=archive["ArchiveName"], EventPattern=json.dumps(archive.get("EventPattern", {}))
            )

    def _put_rule(self, rule_id: str, rule: Mapping[str, Any]) -> str:
        """Create or update the rule's pattern and state; return the bus it is on."""
        bus_name = self._rule_bus(rule)
        self.events.put_rule(
            Name=rule_id,
            EventBusName=bus_name,
            EventPattern=json.dumps(rule["EventPattern"]),
            State=rule.get("State", "ENABLED"),
        )
        return bus_name

    def _rule_bus(self, rule: Mapping[str, Any]) -> str:
        """The bus a rule is on: the monitor's (a Ref), or the services' own, named in the template (created
        here unless it is the account's default bus, which every account has)."""
        bus = rule.get("EventBusName", "default")
        if isinstance(bus, Mapping):
            return str(self.runtime.resolve(bus))
        if bus != "default" and bus not in self.services_buses:
            self.events.create_event_bus(Name=bus)
        self.services_buses.add(bus)
        return str(bus)

    @property
    def bus_arn(self) -> str:
        return str(self.events.describe_event_bus(Name=self.bus_name)["Arn"])

    def _is_topic(self, arn: Any) -> bool:
        referenced = arn.get("Ref") if isinstance(arn, Mapping) else None
        return isinstance(referenced, str) and self.runtime.stack.resources[referenced]["Type"] == "AWS::SNS::Topic"

    def notices(self, rule_prefix: str) -> list[dict[str, Any]]:
        """Drain what the topic behind a rule (found by its logical id's prefix) would have sent."""
        rule_id = next(rule for rule in self.notifications if rule.startswith(rule_prefix))
        return self.runtime.drain(self.notifications[rule_id])

    def _function_of(self, arn: Any) -> LocalFunction:
        logical_id = arn["Fn::GetAtt"][0] if isinstance(arn, Mapping) else str(arn)
        return self.runtime.functions[logical_id]

    def publish(self, entries: list[dict[str, Any]], bus: str | None = None) -> list[str]:
        """PutEvents on the model's bus (or on the services' own bus), as a service would; returns the
        event ids EventBridge assigned."""
        ids = []
        for start in range(0, len(entries), 10):  # PutEvents takes ten entries a call
            batch = [{"EventBusName": bus or self.bus_name, **entry} for entry in entries[start : start + 10]]
            response = self.events.put_events(Entries=batch)
            assert response["FailedEntryCount"] == 0, response
            ids += [entry["EventId"] for entry in response["Entries"]]
        return ids

    def pump(self) -> int:
        """Hand every routed event to its function; return how many invocations ran (retries included).
        First, Step Functions' own events: each execution that ended since, put on the default bus."""
        ended = ended_executions()
        while ended:
            self.events.put_events(Entries=[{**ended.popleft(), "EventBusName": "default"}])
        invocations = 0
        for route in self.routes:
            while route.inbox:
                invocations += self.invoke_async(route.function, route.inbox.popleft())
        return invocations

    def invoke_async(self, function: LocalFunction, event: Any) -> int:
        """Lambda's asynchronous invocation: retried on error, then sent to the on-failure destination
        with the error, as Lambda's invocation record. Returns the number of attempts."""
        config = self._invoke_config(function)
        attempts = 1 + int(config.get("MaximumRetryAttempts", ASYNC_ATTEMPTS_DEFAULT - 1))
        error: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                self.runtime.invoke(function, event)
                return attempt
            except Exception as raised:  # the function failed: Lambda retries it
                error = raised
        self.failed_deliveries += 1
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            record = {
                "version": "1.0",
                "requestContext": {
                    "functionArn": self.runtime.arns[function.logical_id],
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)},
            }
            queue_id = destination["Fn::GetAtt"][0]
            self.runtime.sqs.send_message(
                QueueUrl=self.runtime.names[queue_id], MessageBody=json.dumps(record, default=repr)
            )
        return attempts

    def _invoke_config(self, function: LocalFunction) -> Mapping[str, Any]:
        for _, config in self.runtime.stack.of_type("AWS::Lambda::EventInvokeConfig"):
            if config["FunctionName"] == {"Ref": function.logical_id}:
                return config
        return {}
