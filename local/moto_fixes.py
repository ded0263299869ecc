"""Where moto's behaviour differs from AWS in ways that matter to the monitor, and what we do about it.

Each fix is applied once per process by `apply()`. tests/integration/test_moto_gaps.py runs moto
without the fix and asserts the gap is still there: when moto mends one, that test fails, and the fix
can go.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import jsonata
import jsonpath_ng
import jsonpath_ng.ext as jsonpath_ext
from moto import settings as moto_settings
from moto.core import serialize as moto_serialize
from moto.core.exceptions import AWSError
from moto.core.models import botocore_stubber
from moto.core.utils import MISSING, get_value, iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
    state_task_service_events,
)
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend import execution as sfn_execution

from lambdas.conformance import ended

_apply_lock = threading.Lock()
# Every DynamoDB write request holds it from its read of the old item to its write: see below. Whoever
# reads moto's store directly (the bench's meter) holds it too, since a read of a missing partition
# inserts one into moto's defaultdict and breaks a transaction that is copying the table meanwhile.
WRITE_LOCK = threading.RLock()
_applied: list[bool] = []  # one entry once applied
_lambda_inboxes: dict[str, deque[Any]] = {}  # function ARN -> the events EventBridge invoked it with
# What Step Functions would put on the default bus as each execution ends, for local/platform.py to put.
_ended_executions: deque[dict[str, Any]] = deque()
_inbox_lock = threading.Lock()


class TaskTimedOut(AWSError):
    """What AWS answers for a token that was already used or whose wait has ended."""

    TYPE = "TaskTimedOut"
    STATUS = 400

    def __init__(self, message: str = "Task Timed Out: 'Provided task does not exist anymore'") -> None:
        super().__init__(message)


class TaskDoesNotExist(AWSError):
    TYPE = "TaskDoesNotExist"
    STATUS = 400

    def __init__(self, message: str = "Task does not exist") -> None:
        super().__init__(message)


def apply() -> None:
    """Every mend, whether moto intercepts this process's calls or serves them (make serve)."""
    with _apply_lock:
        if _applied:
            return
        _atomic_dynamodb_writes()
        _used_tokens_are_closed()
        _constructible_task_errors()
        _workflow_variables_are_evaluated()
        _serialized_definition_parsing()
        _sqs_counts_message_bytes()
        _eventbridge_invokes_lambda_targets()
        _executions_announce_their_end()
        _cached_task_clients()
        _cached_input_path_parsers()
        _query_reads_one_partition()
        _cached_update_expressions()
        _cached_response_member_keys()
        _applied.append(True)


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies a write to one item atomically and returns the item as it was (ALL_OLD) from the
    same instant. moto reads the old item for ReturnValues in its request handler, before the backend
    writes, and its check-then-write can interleave between threads (the state machine's interpreter runs
    in threads of its own). The correlation handshake depends on that atomicity, so every write request
    runs under one lock, from its read to its write."""
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoHandler, name, _locked(getattr(DynamoHandler, name), WRITE_LOCK))


def _used_tokens_are_closed() -> None:
    """moto accepts a task token that was already used while its execution runs; AWS answers TaskTimedOut.
    Without this a correlator that sends one token twice would pass every local test."""
    used: set[str] = set()
    lock = threading.Lock()
    backend = sfn_models.StepFunctionsParserBackend

    def once(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def answer(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
            with lock:
                if task_token in used:
                    raise TaskTimedOut()
            result = _retry_attribute_error(original, self, task_token, *args, **kwargs)
            with lock:
                used.add(task_token)
            return result

        return answer

    backend.send_task_success = once(backend.send_task_success)
    backend.send_task_failure = once(backend.send_task_failure)


def _retry_attribute_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """moto's SendTask* walks every running execution; one that is still starting has no worker yet and
    raises AttributeError. Starting takes milliseconds, so try again briefly."""
    for attempt in range(50):
        try:
            return call(*args, **kwargs)
        except AttributeError:
            if attempt == 49:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def _constructible_task_errors() -> None:
    """moto raises its own TaskTimedOut() and TaskDoesNotExist() without the message their base class
    requires, so the caller gets a TypeError instead of the AWS error."""
    sfn_models.TaskTimedOut = TaskTimedOut
    sfn_models.TaskDoesNotExist = TaskDoesNotExist


def _workflow_variables_are_evaluated() -> None:
    """moto evaluates a reference to a workflow variable (`$milestone`), in JSONPath states too, as a
    JSONata expression, through a Java bridge that it does not ship: every reference fails with a
    TypeError. jsonata-python is a JSONata engine in Python; moto composes the same expression for it
    (the variables' values declared, then the reference), and its errors are reported as moto's bridge
    reports them."""

    def evaluate(expression: str) -> Any:
        try:
            return jsonata.Jsonata(expression).evaluate(None)
        except Exception as error:  # as the bridge does: any engine error is the state's
            raise moto_jsonata.JSONataException("UNKNOWN", str(error)) from error

    moto_jsonata._eval_jsonata = evaluate


def _serialized_definition_parsing() -> None:
    """The ASL parser keeps state shared between threads: concurrent StartExecution calls can corrupt a
    parse and leave an execution RUNNING for ever. Parsing also costs about 100 ms per execution for a
    five-milestone definition; the parsed program holds no execution's state (that lives in each
    execution's environment), so one parse per definition serves them all."""
    lock = threading.Lock()
    parse = functools.lru_cache(maxsize=32)(AmazonStateLanguageParser.parse)
    AmazonStateLanguageParser.parse = staticmethod(_locked(parse, lock))


def _cached_task_clients() -> None:
    """The interpreter builds a new boto3 client for every Task state (about 20 ms each); one per region
    and service does the same work. moto passes the state's credentials but builds every client with the
    same fixed keys whatever they are, so they are no part of the key. Where the client goes is: moto
    builds it for the in-process mock while one intercepts, else for the server's port, so a process
    that runs a mocked runtime and then a served one must not reuse the first one's clients. Speed only:
    behaviour is unchanged."""

    @functools.lru_cache(maxsize=64)
    def cached(region: str, service: str, intercepting: bool, port: str) -> Any:
        return boto_client.boto_client_for(region, service)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return cached(region, service, botocore_stubber.enabled, moto_settings.moto_server_port())

    for module in (state_task_service_aws_sdk, state_task_service_dynamodb, state_task_service_events):
        module.boto_client_for = client_for


def _cached_input_path_parsers() -> None:
    """moto builds a new jsonpath_ng parser (a parser generator's tables included) for every path it
    evaluates: each input path of each EventBridge delivery, and each path of each state the interpreter
    runs (a fifth of the local runtime's time each). A parsed path holds no event's state, so one parse
    per path serves every evaluation. Speed only."""
    cached_ext = functools.lru_cache(maxsize=1024)(jsonpath_ext.parse)  # type: ignore[attr-defined]
    jsonpath_ext.parse = cached_ext  # type: ignore[attr-defined]
    json_path.parse = cached_ext
    result_path.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.parse)  # type: ignore[attr-defined]


def _cached_update_expressions() -> None:
    """moto parses an UpdateExpression twice per request, and each of the dozen passes that validate it
    rebuilds its node-to-handler map twice for every node it visits, then tests the node against every
    node class of the map: most of a 15 ms UpdateItem. The parsed tree is only read (validation works on
    a deep copy), and which handler a pass gives a node depends on the pass and the node's class alone,
    so the parse and each pass's handler per class are kept. The walk itself is moto's: depth first,
    children before their parent, each child announced to its parent's pass first. Speed only."""
    make = functools.lru_cache(maxsize=256)(UpdateExpressionParser.make.__func__)
    UpdateExpressionParser.make = classmethod(make)  # type: ignore[arg-type]

    def handler_for(self: Any, node_type: type) -> Callable[[Any], Any] | None:
        kept: dict[type, Callable[[Any], Any] | None] | None = self.__dict__.get("_kept_handlers")
        if kept is None:
            kept = self.__dict__["_kept_handlers"] = {}
        if node_type not in kept:
            # As moto's process(): the first class of the map that the node is an instance of.
            handlers = self._processing_map().items()
            kept[node_type] = next((h for cls, h in handlers if issubclass(node_type, cls)), None)
        return kept[node_type]

    def process(self: Any, node: Any) -> Any:
        handler = handler_for(self, type(node))
        return handler(node) if handler is not None else None

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if isinstance(node, Node):
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    traverse_node_recursively(self, child_node, i)
            handler = handler_for(self, type(node))
            if handler is not None:
                node = handler(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.process = process
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively


def _cached_response_member_keys() -> None:
    """moto serializes a response member by member, and for each member of each value it asks six alias
    providers, afresh, which keys the value may hold it under: a third of the local runtime's time, most
    of it in the read-back of Query items and execution histories. For a plain dict (what the DynamoDB,
    Step Functions and SQS backends answer with) those keys depend on the member's shape and its parent
    structure alone, so they are worked out once per member and kept on its shape; the value is then read
    under each in the same order as before. Other values, and services whose responses transform members
    on the way out, take moto's own path. Speed only."""
    original = moto_serialize.ResponseSerializer.get_value
    picker_type = moto_serialize.XFormedAttributePicker

    def member_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if type(value) is not dict or type(picker) is not picker_type or picker.response_transformers:
            return original(self, value, key, shape)
        parent = getattr(shape, "parent", None)
        kept: dict[tuple[str | None, str], tuple[str, ...]] = shape.__dict__.setdefault("_member_keys", {})
        where = (getattr(parent, "name", None), key)
        keys = kept.get(where)
        if keys is None:
            # An empty dict stands for any dict: the providers look at a value's class and Meta alone.
            context = moto_serialize.AttributePickerContext(obj={}, key=key, shape=shape)
            keys = kept[where] = tuple(picker.get_possible_keys(context))
        for possible in keys:
            found = get_value(value, possible, MISSING)
            if found is not MISSING:
                return found
        return None

    member_value.unmended = original  # type: ignore[attr-defined]  # for the test that compares the two
    moto_serialize.ResponseSerializer.get_value = member_value


def _query_reads_one_partition() -> None:
    """moto's Query of a table (not an index) sorts every item of the table, then keeps one partition's:
    each read grows with the table (a quarter of a 300-order run). DynamoDB reads the one partition, and
    moto keeps each partition's items apart already; Query still sorts them by sort key itself."""
    partition = threading.local()
    original_query, original_all_items = Table.query, Table.all_items
    signature = inspect.signature(original_query)  # moto's backend passes index_name by position

    @functools.wraps(original_query)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        one = index_name is None and bool(self.range_key_attr) and hash_key is not None
        partition.key = (self, hash_key) if one else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            partition.key = None

    @functools.wraps(original_all_items)
    def all_items(self: Any) -> Any:
        key = getattr(partition, "key", None)
        if key is not None and key[0] is self:
            return list(self.items.get(key[1], {}).values())
        return original_all_items(self)

    Table.query = query
    Table.all_items = all_items


def sqs_message_bytes(body: str, attributes: dict[str, Any] | None) -> int:
    """A message's size as SQS counts it against MaximumMessageSize: the body's UTF-8 bytes and, for each
    attribute, its name, data type and value."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, attribute in (attributes or {}).items():
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or ""
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        size += len(value) if isinstance(value, bytes) else len(value.encode("utf-8", "surrogatepass"))
    return size


def _sqs_counts_message_bytes() -> None:
    """moto compares a message body's length in characters with the queue's MaximumMessageSize and leaves
    the attributes out; SQS counts bytes, attributes included, and refuses the message beyond it. A record
    that fits here must fit there."""
    original = SQSBackend.send_message

    @functools.wraps(original)
    def send_message(
        self: Any, queue_name: str, message_body: str, message_attributes: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        limit = int(self.get_queue(queue_name).maximum_message_size)
        size = sqs_message_bytes(message_body, message_attributes)
        if size > limit:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        return original(self, queue_name, message_body, message_attributes, *args, **kwargs)

    SQSBackend.send_message = send_message


def lambda_inbox(function_arn: str) -> deque[Any]:
    """The events EventBridge's rules have invoked this function with, oldest first, to be taken by
    whoever stands for Lambda (local/platform.py). Thread-safe: rules run in moto's threads too."""
    with _inbox_lock:
        return _lambda_inboxes.setdefault(function_arn, deque())


def _eventbridge_invokes_lambda_targets() -> None:
    """moto's EventBridge raises NotImplementedError for a Lambda target: it cannot run one without
    Docker. Here the event such a target receives, matched by moto's own pattern matcher and shaped by its
    own input transformer, as moto hands it to an SQS target, goes to the function's inbox instead. (The
    local runtime used a stand-in SQS queue per target before: a send, a receive and a delete per event.)"""
    original = Rule.send_to_targets

    @functools.wraps(original)
    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        invoked = [target for target in self.targets if target["Arn"].startswith("arn:aws:lambda:")]
        if not invoked:
            original(self, original_event, transform_input)
            return
        if self.event_pattern.matches_event(original_event):
            for target in invoked:
                lambda_inbox(target["Arn"]).append(_as_delivered(target, original_event, transform_input))
        others = [target for target in self.targets if target not in invoked]
        if others:
            rule = copy.copy(self)  # the other targets alone, without changing the rule others read
            rule.targets = others
            original(rule, original_event, transform_input)
        return

    Rule.send_to_targets = send_to_targets


def ended_executions() -> deque[dict[str, Any]]:
    """The status-change events of the executions that ended, oldest first (appended by moto's threads)."""
    return _ended_executions


def _executions_announce_their_end() -> None:
    """AWS puts a "Step Functions Execution Status Change" event on the account's default bus when a
    Standard execution ends; moto puts none. Here each end is kept, as that event's entry, for the local
    platform to put on the default bus from its own thread, where moto's rules then match it."""
    communication = sfn_execution.BaseExecutionWorkerCommunication
    original = communication.terminated

    @functools.wraps(original)
    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        _ended_executions.append(
            {
                "Source": ended.SOURCE,
                "DetailType": ended.DETAIL_TYPE,
                "Resources": [execution.exec_arn],
                "Detail": json.dumps(
                    {
                        "executionArn": execution.exec_arn,
                        "stateMachineArn": execution.state_machine_arn,
                        "name": execution.name,
                        "status": execution.status,
                        "startDate": int(execution.start_date.timestamp() * 1000),
                        "stopDate": int(execution.stop_date.timestamp() * 1000),
                    }
                ),
            }
        )

    communication.terminated = terminated


def _as_delivered(target: dict[str, Any], original_event: Any, transform_input: bool) -> Any:
    """The event as moto would put it in an SQS target's message, read back: the time as ISO 8601."""
    if transform_input:
        transformer = target.get("InputTransformer", {})
        event = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=original_event,
        )
    else:
        event = original_event.copy()
    if isinstance(event, dict) and "time" in event:
        moment = utcfromtimestamp(float(event["time"]))
        event = {**event, "time": iso_8601_datetime_without_milliseconds(moment)}
    return json.loads(json.dumps(event))


def _locked(method: Callable[..., Any], lock: threading.Lock | threading.RLock) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked
