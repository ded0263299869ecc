"""DynamoDB capacity units from item sizes, by AWS's published rules. Pure: items in, numbers out.

Item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
the sum, over attributes, of the attribute name's UTF-8 bytes plus the value's size. A string is its UTF-8
bytes, a number about one byte per two significant digits plus one, a binary its raw bytes, a boolean or
null one byte, a list or map 3 bytes plus its elements with one byte of overhead each (a map element's
name counts too). Sets have no documented overhead: the sum of their elements.

On-demand units: a write costs ceil(size / 1 KB) write request units, on the larger of the item before
and after the write (a write whose condition fails is still charged, on the item as it stands); a
strongly consistent read costs ceil(size / 4 KB) read request units, an eventually consistent one half
that; a read of a missing item is charged as a read of an empty one. A Query rounds the sum of the sizes
of the items it reads; GetItem and BatchGetItem round each item.

A global secondary index is written when an item enters it, leaves it, or changes there: one write of the
index entry, two when an index key attribute changes (the old entry is deleted, the new one put)
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

# A DynamoDB item in the low-level format: attribute name -> {"S": ...} / {"N": ...} / {"M": {...}} ...
Item = Mapping[str, Mapping[str, Any]]


def number_size(text: str) -> int:
    """One byte per two significant digits, plus one: leading and trailing zeroes are not significant."""
    mantissa = text.lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").strip("0")  # 100 is 1E2, 0.05 is 5E-2: one significant digit each
    return math.ceil(max(len(digits), 1) / 2) + 1


def _binary_size(value: bytes | str) -> int:
    # boto3 hands bytes; the low-level JSON of the wire (and moto's items) carries base64 text.
    return len(value) if isinstance(value, bytes) else len(base64.b64decode(value))


def value_size(value: Mapping[str, Any]) -> int:
    (kind, content), *rest = value.items()
    if rest:
        raise ValueError(f"an attribute value has one type, not {sorted(value)}")
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return _binary_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(element).encode()) for element in content)
    if kind == "NS":
        return sum(number_size(str(element)) for element in content)
    if kind == "BS":
        return sum(_binary_size(element) for element in content)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in content.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Item | None, value_bytes: Mapping[str, int] | None = None) -> int:
    """The item's size in bytes; `value_bytes` counts the named top-level attributes' values as that many
    bytes instead (for values whose local stand-ins are shorter than AWS's, such as task tokens)."""
    overrides = value_bytes or {}
    return sum(
        len(name.encode()) + (overrides[name] if name in overrides else value_size(value))
        for name, value in (item or {}).items()
    )


def write_units(size_before: int, size_after: int) -> int:
    return max(1, math.ceil(max(size_before, size_after) / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> Decimal:
    """Decimal: eventually consistent reads cost half units, which must add up exactly."""
    units = Decimal(max(1, math.ceil(size / READ_UNIT_BYTES)))
    return units if consistent else units / 2


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index as the template declares it."""

    name: str
    key_attributes: tuple[str, ...]
    table_key_attributes: tuple[str, ...]
    projection: str = "ALL"  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    @classmethod
    def from_template(cls, index: Mapping[str, Any], table_keys: Sequence[str]) -> IndexSpec:
        projection = index.get("Projection", {})
        return cls(
            name=index["IndexName"],
            key_attributes=tuple(key["AttributeName"] for key in index["KeySchema"]),
            table_key_attributes=tuple(table_keys),
            projection=projection.get("ProjectionType", "ALL"),
            included=tuple(projection.get("NonKeyAttributes", ())),
        )

    def entry(self, item: Item | None) -> dict[str, Mapping[str, Any]] | None:
        """The item's entry in the index, or None when the item lacks a key attribute (a sparse index)."""
        if item is None or not all(name in item for name in self.key_attributes):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*self.key_attributes, *self.table_key_attributes, *self.included}
        return {name: value for name, value in item.items() if name in kept}


def index_write_units(
    spec: IndexSpec, before: Item | None, after: Item | None, value_bytes: Mapping[str, int] | None = None
) -> int:
    old, new = spec.entry(before), spec.entry(after)
    if old is None and new is None:
        return 0
    if old is None or new is None:  # the item enters or leaves the index
        return write_units(0, item_size(new if old is None else old, value_bytes))
    if any(old[name] != new[name] for name in spec.key_attributes):  # delete the old entry, put the new
        return write_units(0, item_size(old, value_bytes)) + write_units(0, item_size(new, value_bytes))
    if old == new:
        return 0
    return write_units(item_size(old, value_bytes), item_size(new, value_bytes))
