"""Put the events held in the monitor's dead-letter queues back on its bus.

Three queues hold events, each in its own format: RuleDeadLetters holds the event as EventBridge would
have delivered it, CorrelatorDeadLetters holds Lambda's invocation record (the event is its
`requestPayload`), and Quarantine holds the correlator's record of an invalid event (`event`, with the
`field` and `reason`). Each message is read, its event put back on the bus with PutEvents, and the message
deleted only once EventBridge accepted the event. A message that holds no event PutEvents can carry, or an
event that no rule on the bus would route (the bus would drop it), stays in its queue.

The clients are given (boto3 SQS and EventBridge clients, or anything that answers like them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cli.stack import required

QUEUES = ("rule", "correlator", "quarantine")
QUEUE_OUTPUTS = {
    "rule": "RuleDeadLettersUrl",
    "correlator": "CorrelatorDeadLettersUrl",
    "quarantine": "QuarantineQueueUrl",
}
BUS_OUTPUT = "BusName"

BATCH = 10  # the most messages a ReceiveMessage / DeleteMessageBatch, and entries a PutEvents, takes
PUT_REQUEST_BYTES = 256 * 1024  # PutEvents' limit on the entries of one request, as EventBridge sizes them
# Messages read stay hidden this long while the pass runs, so that none is read twice; the ones that stay
# in the queue are made visible again at the end of the pass.
HOLD_SECONDS = 300
# Short polling samples some of the queue's servers: an empty answer does not prove the queue empty.
EMPTY_RECEIVES = 3
MAX_MESSAGES = 1000


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str  # rule, correlator, quarantine; or the queue's own name when its URL was given
    url: str


@dataclass(frozen=True)
class RedrivenEvent:
    message_id: str
    source: str
    detail_type: str
    event_id: str | None  # the id EventBridge gave the event put back; None in a dry run

    def as_dict(self) -> dict[str, Any]:
        fields = {"messageId": self.message_id, "source": self.source, "detailType": self.detail_type}
        return fields | ({"eventId": self.event_id} if self.event_id else {})


@dataclass(frozen=True)
class KeptMessage:
    """A message that stays in its queue, and why."""

    message_id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"messageId": self.message_id, "reason": self.reason}


@dataclass
class QueueReport:
    queue: str
    url: str
    read: int = 0
    redriven: list[RedrivenEvent] = field(default_factory=list)  # in a dry run: would be redriven
    skipped: list[KeptMessage] = field(default_factory=list)  # holds no event that can go back on the bus
    failed: list[KeptMessage] = field(default_factory=list)  # EventBridge or SQS refused: try again later

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "url": self.url,
            "read": self.read,
            "redriven": len(self.redriven),
            "skipped": [kept.as_dict() for kept in self.skipped],
            "failed": [kept.as_dict() for kept in self.failed],
            "events": [event.as_dict() for event in self.redriven],
        }


# -- where the queues are ----------------------------------------------------------------------------


def stack_queues(
    outputs: Mapping[str, str], stack_name: str, names: Sequence[str]
) -> tuple[str, list[DeadLetterQueue]]:
    """The bus and the chosen queues of a monitor stack, from its outputs."""
    bus, *urls = required(outputs, stack_name, [BUS_OUTPUT, *(QUEUE_OUTPUTS[name] for name in names)])
    return bus, [DeadLetterQueue(name, url) for name, url in zip(names, urls, strict=True)]


def queue_of_url(url: str) -> DeadLetterQueue:
    return DeadLetterQueue(url.rstrip("/").rsplit("/", 1)[-1], url)


# -- from a message to a PutEvents entry ------------------------------------------------------------------


def entry_of_message(body: str, bus: str) -> dict[str, Any] | str:
    """The PutEvents entry that puts the message's event back on the bus, or why there is none."""
    try:
        record = json.loads(body)
    except ValueError:
        return "the message body is not JSON"
    if _is_quarantine_record(record):
        return _entry_of_quarantined(record, bus)
    if _is_invocation_record(record):
        return entry_of_event(record["requestPayload"], bus)
    return entry_of_event(record, bus)  # an EventBridge dead letter: the event itself


def _is_invocation_record(record: Any) -> bool:
    return isinstance(record, Mapping) and "requestPayload" in record and "requestContext" in record


def _is_quarantine_record(record: Any) -> bool:
    return isinstance(record, Mapping) and {"model", "field", "reason", "event"} <= record.keys()


def _entry_of_quarantined(record: Mapping[str, Any], bus: str) -> dict[str, Any] | str:
    why = f"quarantined: {record['field']}: {record['reason']}"
    if record.get("truncated"):  # the correlator kept only the start of an event too large for a message
        return f"the quarantine kept only part of this event ({why})"
    entry = entry_of_event(record["event"], bus)
    return f"{entry} ({why})" if isinstance(entry, str) else entry


def entry_of_event(event: Any, bus: str) -> dict[str, Any] | str:
    """The PutEvents entry for an event as EventBridge delivers it (the envelope: source, detail-type,
    detail, time, resources), or why it is not one. EventBridge gives the entry a new id."""
    if not isinstance(event, Mapping):
        return f"is a {type(event).__name__}, not an EventBridge event"
    for name in ("source", "detail-type"):
        if not isinstance(event.get(name), str) or not event[name]:
            return f"{name} is missing or not a string"
    if not isinstance(event.get("detail"), Mapping):
        return "detail is missing or not an object"
    time = _event_time(event.get("time"))
    if isinstance(time, str):
        return time
    resources = event.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(resource, str) for resource in resources):
        return "resources is not a list of strings"
    entry = {
        "EventBusName": bus,
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Time": time,  # kept: the start event's time derives its execution's input, so the start stays idempotent
    }
    return entry | ({"Resources": resources} if resources else {})


def _event_time(value: Any) -> datetime | str:
    if value is None:
        return "time is missing"
    try:
        time = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return f"time {str(value)[:60]!r} is not an ISO 8601 time"
    return time if time.tzinfo is not None else f"time {value!r} has no time zone"


def entry_bytes(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it against a request's limit."""
    texts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry.get("Resources", [])]
    return 14 + sum(len(text.encode()) for text in texts)  # 14: the Time field


# -- which events the bus would route -----------------------------------------------------------------


@dataclass(frozen=True)
class BusRoutes:
    """The event patterns of the bus's rules. An event that no rule routes would be dropped by the bus
    (say, a quarantined event of a type the model no longer has): such a message stays in its queue."""

    bus: str
    patterns: tuple[Mapping[str, Any], ...]

    @classmethod
    def of_bus(cls, events: Any, bus: str) -> BusRoutes:
        patterns: list[Mapping[str, Any]] = []
        kwargs: dict[str, Any] = {"EventBusName": bus}
        while True:
            page = events.list_rules(**kwargs)
            patterns += [json.loads(rule["EventPattern"]) for rule in page.get("Rules", []) if _delivers(rule)]
            if not page.get("NextToken"):
                return cls(bus, tuple(patterns))
            kwargs["NextToken"] = page["NextToken"]

    def routes(self, entry: Mapping[str, Any]) -> bool:
        return any(_may_match(pattern, entry) for pattern in self.patterns)


def _delivers(rule: Mapping[str, Any]) -> bool:
    """An enabled rule of the bus's own with an event pattern. A rule AWS manages (an archive's) keeps
    events but hands them to no one, so it does not count as a route."""
    return bool(rule.get("EventPattern")) and rule.get("State") != "DISABLED" and not rule.get("ManagedBy")


def _may_match(pattern: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """False only where the pattern lists plain values for source or detail-type and the entry's is not
    among them; a subtler pattern (content filters, detail fields) counts as a possible match."""
    for name, value in (("source", entry["Source"]), ("detail-type", entry["DetailType"])):
        allowed = pattern.get(name)
        if isinstance(allowed, list) and all(isinstance(item, str) for item in allowed) and value not in allowed:
            return False
    return True


# -- the pass over one queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    message: Mapping[str, Any]
    entry: dict[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.message["MessageId"])

    def redriven(self, event_id: str | None) -> RedrivenEvent:
        return RedrivenEvent(self.message_id, self.entry["Source"], self.entry["DetailType"], event_id)


class Redriver:
    def __init__(self, sqs: Any, events: Any, bus: str, *, dry_run: bool = False) -> None:
        self.sqs = sqs
        self.events = events
        self.bus = bus
        self.dry_run = dry_run
        self.routes = BusRoutes.of_bus(events, bus)

    def redrive(self, queue: DeadLetterQueue, max_messages: int = MAX_MESSAGES) -> QueueReport:
        report = QueueReport(queue.name, queue.url)
        kept: list[str] = []  # receipt handles of the messages that stay, made visible again at the end
        try:
            for batch in receive_batches(self.sqs, queue.url, max_messages):
                report.read += len(batch)
                pending = [p for p in (self._triage(message, report, kept) for message in batch) if p]
                for chunk in put_chunks(pending):
                    self._put(queue.url, chunk, report, kept)
        finally:
            release(self.sqs, queue.url, kept)
        return report

    def _triage(self, message: Mapping[str, Any], report: QueueReport, kept: list[str]) -> Pending | None:
        """The message's event to put, or None when the message stays (skipped, or a dry run)."""
        entry = entry_of_message(message["Body"], self.bus)
        if isinstance(entry, dict) and not self.routes.routes(entry):
            entry = f"no enabled rule on bus {self.bus} routes {entry['DetailType']!r} from {entry['Source']!r}: the bus would drop it"
        if isinstance(entry, str):
            report.skipped.append(KeptMessage(message["MessageId"], entry))
        elif self.dry_run:
            report.redriven.append(Pending(message, entry).redriven(None))
        else:
            return Pending(message, entry)
        kept.append(message["ReceiptHandle"])
        return None

    def _put(self, url: str, chunk: list[Pending], report: QueueReport, kept: list[str]) -> None:
        put: list[tuple[Pending, str]] = []
        for pending, result in zip(chunk, self._put_events([p.entry for p in chunk]), strict=True):
            if "EventId" in result:
                put.append((pending, result["EventId"]))
            else:
                report.failed.append(
                    KeptMessage(pending.message_id, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}")
                )
                kept.append(pending.message["ReceiptHandle"])
        refused = delete_messages(self.sqs, url, [pending.message["ReceiptHandle"] for pending, _ in put])
        for number, (pending, event_id) in enumerate(put):
            if number in refused:  # the event is on the bus again; a later redrive puts it once more, harmlessly
                reason = f"put on the bus as event {event_id}, but not deleted: {refused[number]}"
                report.failed.append(KeptMessage(pending.message_id, reason))
            else:
                report.redriven.append(pending.redriven(event_id))

    def _put_events(self, entries: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        """One result per entry: its EventId, or its ErrorCode and ErrorMessage."""
        try:
            response = self.events.put_events(Entries=entries)
        except ClientError as error:  # the whole request refused (throttled, denied...): every entry failed
            failure = {"ErrorCode": _code(error), "ErrorMessage": str(error)}
            return [failure] * len(entries)
        results: list[Mapping[str, Any]] = response["Entries"]
        return results


def redrive(
    sqs: Any,
    events: Any,
    bus: str,
    queues: Sequence[DeadLetterQueue],
    *,
    dry_run: bool = False,
    max_messages: int = MAX_MESSAGES,
) -> list[QueueReport]:
    """Redrive each queue in turn (up to max_messages read from each); one report per queue."""
    redriver = Redriver(sqs, events, bus, dry_run=dry_run)
    return [redriver.redrive(queue, max_messages) for queue in queues]


# -- SQS and PutEvents in batches ------------------------------------------------------------------------


def receive_batches(sqs: Any, url: str, max_messages: int) -> Iterator[list[Mapping[str, Any]]]:
    """Messages in batches, each message once, until the queue shows no more or max_messages were read."""
    seen: set[str] = set()
    empty = 0
    while len(seen) < max_messages and empty < EMPTY_RECEIVES:
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(BATCH, max_messages - len(seen)),
            WaitTimeSeconds=0,
            VisibilityTimeout=HOLD_SECONDS,
        )
        # SQS delivers at least once: a message seen already in this pass is not read again.
        fresh = [message for message in response.get("Messages", []) if message["MessageId"] not in seen]
        empty = 0 if fresh else empty + 1
        seen.update(message["MessageId"] for message in fresh)
        if fresh:
            yield fresh


def put_chunks(pending: list[Pending]) -> Iterator[list[Pending]]:
    """Up to ten entries a request, within PutEvents' request size."""
    chunk: list[Pending] = []
    size = 0
    for item in pending:
        item_size = entry_bytes(item.entry)
        if chunk and (len(chunk) == BATCH or size + item_size > PUT_REQUEST_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def delete_messages(sqs: Any, url: str, handles: list[str]) -> dict[int, str]:
    """Delete the messages (ten at most); return the refused ones by position, with the reason."""
    if not handles:
        return {}
    entries = [{"Id": str(number), "ReceiptHandle": handle} for number, handle in enumerate(handles)]
    try:
        response = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    except ClientError as error:
        return dict.fromkeys(range(len(handles)), _code(error))
    return {
        int(failure["Id"]): f"{failure['Code']}: {failure.get('Message', '')}" for failure in response.get("Failed", [])
    }


def release(sqs: Any, url: str, handles: list[str]) -> None:
    """Make the messages that stay visible again now rather than after HOLD_SECONDS."""
    for start in range(0, len(handles), BATCH):
        entries = [
            {"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for number, handle in enumerate(handles[start : start + BATCH])
        ]
        # A refusal is harmless: the message shows again once HOLD_SECONDS have passed.
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except ClientError:
            continue


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "ClientError"))


# -- how it reads ------------------------------------------------------------------------------------------


def redrive_view(bus: str, reports: Sequence[QueueReport], *, dry_run: bool) -> str:
    lines = [f"Redrive to bus {bus}" + (" (dry run: nothing put, nothing deleted)" if dry_run else "")]
    verb = "would redrive" if dry_run else "redriven"
    for report in reports:
        lines.append(
            f"{report.queue}: read {report.read}, {verb} {len(report.redriven)}, "
            f"skipped {len(report.skipped)}, failed {len(report.failed)}  ({report.url})"
        )
        types = Counter(event.detail_type for event in report.redriven)
        lines += [f"  {verb:<13} {count} x {detail_type}" for detail_type, count in sorted(types.items())]
        lines += [f"  {'skipped':<13} {kept.message_id}: {kept.reason}" for kept in report.skipped]
        lines += [f"  {'failed':<13} {kept.message_id}: {kept.reason}" for kept in report.failed]
    return "\n".join(lines)
