"""Meters on an open LocalRuntime: each Lambda invocation's duration, and each DynamoDB request's capacity
units, by who made it (a function, or the state machine).

DynamoDB charges a write on the item as it was before and after it, and an index write on the entries
the item had and has. moto does not compute either (its ConsumedCapacity is a constant), so every write
request to the monitor's table is wrapped where moto handles it: under the writes' own lock
(local/moto_fixes.py), the item is read from moto's store before and after the write, and bench/units.py
prices the pair; a transaction's items are priced each, twice over, as DynamoDB charges them. The lock
makes the pair exact while the correlator and the executions' threads write concurrently, and keeps the
meter's reads of moto's store away from a transaction copying it (no slowdown showed in an A/B run).

Attribution: a request made inside a handler invocation belongs to that function; one made on another
thread belongs to the state machine (moto runs each execution on threads of its own); one made on the
main thread outside any invocation is the harness's own reading (the load run's checks), not metered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from bench import units
from local.moto_fixes import WRITE_LOCK
from local.runtime import LocalFunction, LocalRuntime

STATE_MACHINE = "state machine"
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# A transaction's writes: each item's, twice over (DynamoDB charges 2 write units per KB in a transaction).
TRANSACTIONAL_WRITE_FACTOR = 2
READS = ("get_item", "batch_get_item", "query")


class Meter:
    def __init__(self, runtime: LocalRuntime, value_bytes: Mapping[str, int]) -> None:
        self.runtime = runtime
        self.value_bytes = dict(value_bytes)
        _, table = runtime.stack.one_of_type("AWS::DynamoDB::GlobalTable")
        self.table_keys = tuple(key["AttributeName"] for key in table["KeySchema"])
        self.indexes = [
            units.IndexSpec.from_template(index, self.table_keys) for index in table.get("GlobalSecondaryIndexes", [])
        ]
        self.invocations: Counter[str] = Counter()  # by function logical id
        self.durations_ms: defaultdict[str, list[float]] = defaultdict(list)
        self.requests: Counter[tuple[str, str]] = Counter()  # (source, operation)
        self.write_units: Counter[str] = Counter()  # table writes, by source
        self.index_write_units: Counter[str] = Counter()
        self.read_units: defaultdict[str, Decimal] = defaultdict(Decimal)
        self._current = threading.local()

    @contextmanager
    def attached(self) -> Iterator[Meter]:
        """Meter the runtime while open (install after the runtime opened: its moto fixes wrap first)."""
        originals = {name: getattr(DynamoHandler, name) for name in (*WRITES, *READS)}
        invoke = self.runtime.invoke
        for name in WRITES:
            setattr(DynamoHandler, name, self._metered_write(originals[name], name))
        for name in READS:
            setattr(DynamoHandler, name, self._metered_read(originals[name], name))
        self.runtime.invoke = self._timed(invoke)  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(DynamoHandler, name, original)
            del self.runtime.invoke  # the class's method again

    def durations(self, function_id: str) -> list[float]:
        return list(self.durations_ms.get(function_id, []))

    # -- attribution ---------------------------------------------------------------------------------

    def _source(self) -> str | None:
        function: str | None = getattr(self._current, "function", None)
        if function is not None:
            return function
        return None if threading.current_thread() is threading.main_thread() else STATE_MACHINE

    def _timed(self, invoke: Callable[[LocalFunction, Any], Any]) -> Callable[[LocalFunction, Any], Any]:
        def timed(function: LocalFunction, event: Any) -> Any:
            self._current.function = function.logical_id
            started = time.perf_counter()
            try:
                return invoke(function, event)
            finally:
                self.durations_ms[function.logical_id].append((time.perf_counter() - started) * 1000)
                self.invocations[function.logical_id] += 1
                self._current.function = None

        return timed

    # -- DynamoDB ----------------------------------------------------------------------------------

    def _ours(self, handler: DynamoHandler) -> str | None:
        """The source of a request to the monitor's table worth metering, or None."""
        body: Mapping[str, Any] = handler.body
        names = {body.get("TableName"), *body.get("RequestItems", {})}
        names |= {write.get("TableName") for item in body.get("TransactItems", []) for write in item.values()}
        return self._source() if self.runtime.table_name in names else None

    def _written_keys(self, operation: str, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        if operation == "put_item":
            return [{name: body["Item"][name] for name in self.table_keys}]
        if operation == "transact_write_items":
            return [
                write["Key"] if "Key" in write else {name: write["Item"][name] for name in self.table_keys}
                for item in body["TransactItems"]
                for write in item.values()
                if write.get("TableName") == self.runtime.table_name
            ]
        return [body["Key"]]

    def _stored(self, handler: DynamoHandler, key: Mapping[str, Any]) -> dict[str, Any] | None:
        item = handler.dynamodb_backend.get_item(self.runtime.table_name, dict(key))
        return None if item is None else dict(item.to_json()["Attributes"])

    def _metered_write(self, original: Callable[..., Any], operation: str) -> Callable[..., Any]:
        def metered(handler: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
            source = self._ours(handler)
            if source is None:
                return original(handler, *args, **kwargs)
            keys = self._written_keys(operation, handler.body)
            factor = TRANSACTIONAL_WRITE_FACTOR if operation == "transact_write_items" else 1
            with WRITE_LOCK:  # the write's own lock: the before and after below are this write's own
                before = [self._stored(handler, key) for key in keys]
                try:
                    return original(handler, *args, **kwargs)
                finally:  # a write whose condition failed is charged too, on the item as it stands
                    self.requests[source, operation] += 1
                    for key, old in zip(keys, before, strict=True):
                        self._record_write(source, old, self._stored(handler, key), factor)

        return metered

    def _record_write(self, source: str, before: Any, after: Any, factor: int = 1) -> None:
        size = units.item_size
        written = units.write_units(size(before, self.value_bytes), size(after, self.value_bytes))
        self.write_units[source] += factor * written
        for index in self.indexes:
            self.index_write_units[source] += factor * units.index_write_units(index, before, after, self.value_bytes)

    def _metered_read(self, original: Callable[..., Any], operation: str) -> Callable[..., Any]:
        def metered(handler: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
            source = self._ours(handler)
            if source is None:
                return original(handler, *args, **kwargs)
            with WRITE_LOCK:  # one lock for all the meter's counting, and no read beside a write
                result = original(handler, *args, **kwargs)
                self.requests[source, operation] += 1
                self.read_units[source] += self._read_units(handler, operation, result)
            return result

        return metered

    def _read_units(self, handler: DynamoHandler, operation: str, result: Any) -> Decimal:
        """Reads are charged on whole stored items, whatever a projection returns: GetItem and BatchGetItem
        round each item; a Query rounds the sum of the items it returns (the handlers' queries have
        neither projection nor filter)."""
        body: Mapping[str, Any] = handler.body
        if operation == "query":
            items = result.result.get("Items", [])
            size = sum(units.item_size(item, self.value_bytes) for item in items)
            return units.read_units(size, consistent=bool(body.get("ConsistentRead")))
        if operation == "get_item":
            requests = [(body["Key"], bool(body.get("ConsistentRead")))]
        else:
            batch = body["RequestItems"][self.runtime.table_name]
            requests = [(key, bool(batch.get("ConsistentRead"))) for key in batch["Keys"]]
        return sum(
            (
                units.read_units(units.item_size(self._stored(handler, key), self.value_bytes), consistent=consistent)
                for key, consistent in requests
            ),
            Decimal(0),
        )
