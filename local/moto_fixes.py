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

import jsonpath_ng
import jsonpath_ng.ext as jsonpath_ext
from moto.core.exceptions import AWSError
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
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
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

_apply_lock = threading.Lock()
_applied: list[bool] = []  # one entry once applied
_lambda_inboxes: dict[str, deque[Any]] = {}  # function ARN -> the events EventBridge invoked it with
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
        _serialized_definition_parsing()
        _sqs_counts_message_bytes()
        _eventbridge_invokes_lambda_targets()
        _cached_task_clients()
        _cached_input_path_parsers()
        _query_reads_one_partition()
        _cached_update_expressions()
        _applied.append(True)


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies a write to one item atomically and returns the item as it was (ALL_OLD) from the
    same instant. moto reads the old item for ReturnValues in its request handler, before the backend
    writes, and its check-then-write can interleave between threads (the state machine's interpreter runs
    in threads of its own). The correlation handshake depends on that atomicity, so every write request
    runs under one lock, from its read to its write."""
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoHandler, name, _locked(getattr(DynamoHandler, name), lock))


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
    same fixed keys whatever they are, so they are no part of the key. Speed only: behaviour is unchanged."""
    cached = functools.lru_cache(maxsize=64)(boto_client.boto_client_for)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return cached(region, service)

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
    rebuilds its node-to-handler map twice for every node it visits: most of a 15 ms UpdateItem. The parsed
    tree is only read (validation works on a deep copy), and a pass's map depends on the pass alone, so
    both are kept. Speed only."""
    make = functools.lru_cache(maxsize=256)(UpdateExpressionParser.make.__func__)
    UpdateExpressionParser.make = classmethod(make)  # type: ignore[arg-type]

    def kept_map(self: Any) -> dict[type, Callable[[Any], Any]]:
        kept: dict[type, Callable[[Any], Any]] | None = self.__dict__.get("_kept_map")
        if kept is None:
            kept = self.__dict__["_kept_map"] = self._processing_map()
        return kept

    def process(self: Any, node: Any) -> Any:
        for node_type, processor in kept_map(self).items():
            if isinstance(node, node_type):
                return processor(node)
        return None

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        kept: tuple[type, ...] | None = self.__dict__.get("_kept_types")
        if kept is None:
            kept = self.__dict__["_kept_types"] = tuple(kept_map(self))
        return kept

    DepthFirstTraverser.process = process
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed


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
