"""The table's item reader gives what boto3's TypeDeserializer gives, without importing boto3."""

from __future__ import annotations

import pytest
from boto3.dynamodb.types import TypeDeserializer

from lambdas.choreography import table

ITEM = {
    "pk": {"S": "ORD-注文-7"},
    "received": {"N": "3"},
    "ratio": {"N": "0.125"},
    "eventIds": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2.5"]},
    "blob": {"B": b"\x00\x01"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "settledBy": {"M": {"outcome": {"S": "success"}, "list": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}}},
}


def test_plain_values_are_boto3s() -> None:
    deserialize = TypeDeserializer().deserialize
    expected = {name: deserialize(value) for name, value in ITEM.items()}
    expected["blob"] = expected["blob"].value  # boto3 wraps binary in its Binary class; bytes here
    assert table.plain(ITEM) == expected
    assert table.plain(None) == {}


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="XS"):
        table.plain({"a": {"XS": "?"}})
