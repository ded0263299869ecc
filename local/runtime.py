"""The whole monitor of one stack on this machine: moto runs the synthesized state machine, and the real
handlers run in-process with the environment the template gives them.

Everything is created from the template's own resource definitions: the table's keys and indexes, the
queues, the state machine's definition and substitutions, the functions' handlers and environment.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from cli.executions import execution_history
from lambdas.choreography import table
from lambdas.correlator.dal import SQS_DEFAULT_MESSAGE_BYTES, execution_arn
from lambdas.status.dal import StatusStore
from local import moto_fixes
from local.assembly import StackTemplate
from local.calls import Call, CallObserver, handler_invocation, observer
from local.platform import LocalPlatform

REGION = "us-east-1"
ACCOUNT = "123456789012"
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass
class LambdaContext:
    """What a handler's Powertools decorators read from the Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class LocalFunction:
    logical_id: str
    handler_path: str  # module.path.function, as in the template
    environment: dict[str, str]
    memory_mb: int
    _handler: Callable[[Any, Any], Any] | None = None

    def load(self) -> Callable[[Any, Any], Any]:
        """The handler, imported afresh on this runtime's first call: a cold start, with this function's
        environment, so module-level state (clients, model, Powertools settings) is built as in Lambda."""
        if self._handler is None:
            os.environ.update(self.environment)  # values only: every key was set when the runtime opened
            module_name, function_name = self.handler_path.rsplit(".", 1)
            module = importlib.reload(importlib.import_module(module_name))
            self._handler = getattr(module, function_name)
        return self._handler


class LocalRuntime:
    """Use as a context manager; while open, boto3 clients in this process talk to moto."""

    # Environment variables are process-wide, so invocations take turns.
    _invoke_lock = threading.RLock()

    def __init__(self, stack: StackTemplate, *, port: int | None = None) -> None:
        """With a port, moto runs as a server on 127.0.0.1 that any AWS client can be pointed at;
        without one, it intercepts this process's boto3 calls."""
        self.stack = stack
        self.port = port
        self.names: dict[str, str] = {}  # logical id -> physical name, URL or ARN, as Ref resolves
        self.arns: dict[str, str] = {}  # logical id -> ARN, as Fn::GetAtt Arn resolves
        self.functions: dict[str, LocalFunction] = {}
        self.definitions: dict[str, dict[str, Any]] = {}  # state machine ARN -> its definition
        self.metrics_output: list[dict[str, Any]] = []
        self.outcomes: Counter[str] = Counter()  # the correlator's answers, by outcome
        self.accepted: set[str] = set()  # ids of events the correlator recorded (not quarantined)
        # Function -> {AWS calls one invocation made: invocations}, failed invocations included.
        self.calls_per_invocation: dict[str, Counter[int]] = {}
        self._exit = contextlib.ExitStack()

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        moto_fixes.apply()
        # moto's interpreter logs every Fail state an execution reaches as an error; failed orders are
        # ordinary here, and their errors are in the execution history.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        self.calls: CallObserver = observer()  # before any handler's cold start builds its clients
        self._calls_from = len(self.calls.made)
        self._exit.enter_context(_environment(LOCAL_ENVIRONMENT))
        if self.port is None:
            self._exit.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        else:
            self._start_server(self.port)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self._create_queues()
        self._create_table()
        self._create_state_machines()
        self._register_functions()
        self.platform = LocalPlatform(self)
        self.platform.create()
        # Set once, before any execution runs: the interpreter's threads read the environment while they
        # build clients, and a key removed under them fails their call. Functions differ only in values.
        self._exit.callback(self._restore_environment, dict(os.environ))
        for function in self.functions.values():
            for name, value in function.environment.items():
                os.environ.setdefault(name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start_server(self, port: int) -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._exit.callback(server.stop)
        endpoint = f"http://127.0.0.1:{port}"
        # Every client of this process, the handlers' and the interpreter's included, talks to the server.
        self._exit.enter_context(_environment({"AWS_ENDPOINT_URL": endpoint, "MOTO_PORT": str(port)}))
        request = urllib.request.Request(
            f"{endpoint}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def session_client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    # -- resources from the template -----------------------------------------------------------------

    def _create_queues(self) -> None:
        for logical_id, properties in self.stack.of_type("AWS::SQS::Queue"):
            # moto's own default is 1 MiB; a queue that sets no size has 256 KiB in CloudFormation.
            size = str(properties.get("MaximumMessageSize", SQS_DEFAULT_MESSAGE_BYTES))
            url = self.sqs.create_queue(QueueName=logical_id, Attributes={"MaximumMessageSize": size})["QueueUrl"]
            self.names[logical_id] = url
            self.arns[logical_id] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical_id}"

    def _create_table(self) -> None:
        logical_id, properties = self.stack.one_of_type("AWS::DynamoDB::GlobalTable")
        name = f"{self.stack.name}-{logical_id}"
        indexes = [
            {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
            for index in properties.get("GlobalSecondaryIndexes", [])
        ]
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        self.names[logical_id] = name
        self.arns[logical_id] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        self.table_name = name

    def _create_state_machines(self) -> None:
        """One machine per shipped model version; a machine that exists already is left as it is, as
        CloudFormation leaves a resource whose properties did not change (a version's never do)."""
        bus_id, bus = self.stack.one_of_type("AWS::Events::EventBus")
        self.names[bus_id] = bus["Name"]  # the definition names the bus, which the platform creates
        for logical_id, properties in self.stack.of_type("AWS::StepFunctions::StateMachine"):
            if logical_id in self.names:
                continue
            definition: str = properties["DefinitionString"]
            for key, value in properties.get("DefinitionSubstitutions", {}).items():
                definition = definition.replace("${" + key + "}", str(self.resolve(value)))
            arn = self.stepfunctions.create_state_machine(
                name=properties["StateMachineName"],
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-state-machine",
                type=properties.get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
            self.names[logical_id] = arn
            self.arns[logical_id] = arn
            self.definitions[arn] = json.loads(definition)
        # The current version's: new instances start there (the stack's StateMachineArn output).
        self.state_machine_arn = str(self.resolve(self.stack.template["Outputs"]["StateMachineArn"]["Value"]))
        self.definition = self.definitions[self.state_machine_arn]
        # Every shipped version's, oldest first (the StateMachineArns output): what the console counts.
        self.state_machine_arns = str(self.resolve(self.stack.template["Outputs"]["StateMachineArns"]["Value"])).split(
            ","
        )

    def deploy(self, stack: StackTemplate) -> None:
        """Deploy the stack anew with what it is synthesized from now (a new model version, say), as
        `cdk deploy` updates it: the table, queues and running executions stay; new machines are created,
        the functions get their new code and environment (their next invocation is a cold start), and
        the rules their new patterns."""
        self.stack = stack
        self._create_state_machines()
        for logical_id, properties in self.stack.of_type("AWS::Lambda::Function"):
            function = self.functions[logical_id]
            function.environment = self._function_environment(properties)
            function._handler = None
            os.environ.update(function.environment)
        self.platform.deploy()

    def _register_functions(self) -> None:
        for logical_id, properties in self.stack.of_type("AWS::Lambda::Function"):
            self.functions[logical_id] = LocalFunction(
                logical_id,
                properties["Handler"],
                self._function_environment(properties),
                properties.get("MemorySize", 128),
            )
            self.names[logical_id] = logical_id
            self.arns[logical_id] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"

    def _function_environment(self, properties: Mapping[str, Any]) -> dict[str, str]:
        variables = properties.get("Environment", {}).get("Variables", {})
        environment = {name: str(self.resolve(value)) for name, value in variables.items()}
        environment["LAMBDA_TASK_ROOT"] = str(self.stack.asset_directory(properties))
        return environment

    def resolve(self, value: Any) -> Any:
        """Resolve the CloudFormation intrinsics the monitor's templates use."""
        if not isinstance(value, Mapping):
            return value
        if "Ref" in value:
            return self.names[value["Ref"]]
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.arns[logical_id] if attribute == "Arn" else self.names[logical_id]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(part)) for part in parts)
        raise ValueError(f"unsupported intrinsic in template: {value}")

    # -- functions -------------------------------------------------------------------------------

    def function_with_handler(self, handler_path: str) -> LocalFunction:
        for function in self.functions.values():
            if function.handler_path == handler_path:
                return function
        raise LookupError(f"{self.stack.name}: no function with handler {handler_path}")

    def invoke(self, function: LocalFunction, event: Any) -> Any:
        """Call the real handler with the function's environment, as Lambda would, in this process."""
        with self._invoke_lock, handler_invocation(function.logical_id):
            captured = io.StringIO()
            made_before = len(self.calls.made)
            try:
                with contextlib.redirect_stdout(captured):
                    result = function.load()(event, LambdaContext(function.logical_id, function.memory_mb))
            finally:
                counts = self.calls_per_invocation.setdefault(function.logical_id, Counter())
                counts[len(self.calls.made) - made_before] += 1
        self.metrics_output += [json.loads(line) for line in captured.getvalue().splitlines() if '"_aws"' in line]
        if isinstance(result, dict) and "outcome" in result:
            self.outcomes[str(result["outcome"])] += 1
            if result["outcome"] != "quarantined" and result.get("event_id"):
                self.accepted.add(result["event_id"])
        return result

    def handler_calls(self) -> list[Call]:
        """Every AWS call the handlers made while this runtime was open."""
        return self.calls.made[self._calls_from :]

    def correlator_outcomes(self) -> Counter[str]:
        return self.outcomes

    def accepted_event_ids(self) -> set[str]:
        return set(self.accepted)

    def redrive_dead_letters(self) -> int:
        """Hand every dead-lettered event back to its function, as the redrive of a DLQ would."""
        redriven = 0
        for _, config in self.stack.of_type("AWS::Lambda::EventInvokeConfig"):
            function = self.functions[config["FunctionName"]["Ref"]]
            queue = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
            for record in self.queue_messages(queue):
                self.platform.invoke_async(function, record["requestPayload"])
                redriven += 1
        return redriven

    @property
    def correlator(self) -> LocalFunction:
        return self.function_with_handler("lambdas.correlator.handler.handler")

    def deliver(self, event: Any) -> Any:
        """One delivery of an event straight to the correlator, as a rule target's invocation makes it."""
        return self.invoke(self.correlator, event)

    def publish(self, events: Sequence[Mapping[str, Any]], bus: str | None = None) -> int:
        """Put EventBridge events on the bus (the monitor's, or `bus`: the services' own), as services do,
        and let the rules route them to the handlers (with Lambda's retries and on-failure destination).
        Returns the handler invocations made."""
        self.platform.publish([_entry(event) for event in events], bus)
        return self.platform.pump()

    # -- observing ---------------------------------------------------------------------------------

    def execution_arn(self, name: str) -> str:
        """The instance's execution: on the machine its start recorded, where several versions ship."""
        if len(self.definitions) > 1:
            started_by = self.items(name).get(table.INSTANCE_SK, {}).get(table.STARTED_BY, {})
            if table.EXECUTION_ARN in started_by:
                return str(started_by[table.EXECUTION_ARN])
        return execution_arn(self.state_machine_arn, name)

    def definition_of(self, name: str) -> dict[str, Any]:
        """The definition the instance's execution runs on."""
        described = self.stepfunctions.describe_execution(executionArn=self.execution_arn(name))
        return self.definitions[described["stateMachineArn"]]

    def wait_for_executions(self, names: list[str], timeout_s: float = 60.0) -> dict[str, str]:
        """Wait until every named execution has left RUNNING, and let what their ends trigger run (the end
        check, as Step Functions' events would have invoked it by then); return their final statuses."""
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        while pending and time.monotonic() < deadline:
            # One listing per round: describing each pending execution would scan moto's executions
            # once per name, and that work competes with the executions themselves.
            pending &= self.running_executions()
            if pending:
                time.sleep(0.05)
        self.platform.pump()
        return {name: "RUNNING" if name in pending else self.execution_status(name) for name in names}

    def wait_until_waiting(self, instance_id: str, milestone: str, timeout_s: float = 10.0) -> str | None:
        """Wait until the instance's execution has stored its task token at `milestone`, that is, waits
        there; return the token, or None if it did not in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            token = self.items(instance_id).get(milestone, {}).get(table.TASK_TOKEN)
            if token or time.monotonic() >= deadline:
                return str(token) if token else None
            time.sleep(0.01)

    def running_executions(self) -> set[str]:
        return {execution["name"] for execution in self._executions(statusFilter="RUNNING")}

    def execution_counts(self) -> Counter[str]:
        """Executions by status (RUNNING, SUCCEEDED, FAILED...)."""
        return Counter(execution["status"] for execution in self._executions())

    def _executions(self, **filters: str) -> Iterator[dict[str, Any]]:
        pages = self.stepfunctions.get_paginator("list_executions")
        for machine in self.definitions:
            for page in pages.paginate(stateMachineArn=machine, PaginationConfig={"PageSize": 1000}, **filters):
                yield from page["executions"]

    def execution_status(self, name: str) -> str:
        status: str = self.stepfunctions.describe_execution(executionArn=self.execution_arn(name))["status"]
        return status

    def history(self, name: str) -> list[dict[str, Any]]:
        return execution_history(self.stepfunctions, self.execution_arn(name))

    def states_entered(self, name: str) -> list[str]:
        events = self.history(name)
        return [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]

    def items(self, instance_id: str) -> dict[str, Mapping[str, Any]]:
        """The instance's records by sort key, as plain values (the status function's own read)."""
        return StatusStore(self.dynamodb, self.table_name).instance_records(instance_id)

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Drain one of the stack's queues and return its message bodies."""
        return self.drain(self.names[logical_id])

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    @staticmethod
    def _restore_environment(before: Mapping[str, str]) -> None:
        for name in set(os.environ) - set(before):
            del os.environ[name]


def _entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """The PutEvents entry a service sends for an event as EventBridge would deliver it."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Time": event["time"],
    }


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
