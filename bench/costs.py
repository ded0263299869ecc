"""The cost model: what a design consumes for a workload, and what that costs per million orders at list
prices. Pure: usage and prices in, dollars out. The prices live in prices/<region>.json, each with the page
it was read from and the date."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.packaging import PROJECT_ROOT

DEFAULT_PRICES = PROJECT_ROOT / "prices" / "us-east-1.json"
PRICE_FIELDS = ("usd", "per", "unit", "source", "read")
# The cost lines, in the order the tables print them, with the price each one uses.
LINES = {
    "Step Functions": "stepfunctions_standard_transitions",
    "Lambda requests": "lambda_requests",
    "Lambda duration": "lambda_duration_<architecture>",
    "DynamoDB writes": "dynamodb_write_request_units",
    "DynamoDB reads": "dynamodb_read_request_units",
    "EventBridge": "eventbridge_custom_events",
    "SQS": "sqs_requests",
}
TOTAL = "total"
PER_ORDERS = 1_000_000


@dataclass(frozen=True)
class Price:
    usd: float  # the price of `per` units
    per: float
    unit: str
    source: str
    read: str  # the date the price was read at its source

    def of(self, quantity: float) -> float:
        return quantity * self.usd / self.per


@dataclass(frozen=True)
class PriceList:
    region: str
    prices: Mapping[str, Price]
    path: Path | None = None

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise KeyError(f"{self.path or 'prices'}: no price {key!r}") from None


def load_prices(path: Path = DEFAULT_PRICES) -> PriceList:
    document: dict[str, Any] = json.loads(path.read_text())
    prices = {}
    for key, entry in document["prices"].items():
        missing = [name for name in PRICE_FIELDS if name not in entry]
        if missing:
            raise ValueError(f"{path}: prices.{key} lacks {', '.join(missing)}")
        prices[key] = Price(float(entry["usd"]), float(entry["per"]), entry["unit"], entry["source"], entry["read"])
    return PriceList(document["region"], prices, path)


def gb_seconds(memory_mb: int, duration_ms: float) -> float:
    """Lambda bills the configured memory for the duration rounded up to the millisecond."""
    return memory_mb / 1024 * math.ceil(duration_ms) / 1000


@dataclass(frozen=True)
class Usage:
    """What one design consumed for a whole workload (totals, not per order)."""

    orders: int
    transitions: int = 0
    lambda_requests: int = 0
    lambda_gb_seconds: Mapping[str, float] = field(default_factory=dict)  # by architecture (arm64, x86_64)
    write_units: float = 0.0
    read_units: float = 0.0
    events: int = 0
    sqs_requests: int = 0

    def per_order(self, quantity: float) -> float:
        return quantity / self.orders if self.orders else 0.0


def dollars_per_million_orders(usage: Usage, prices: PriceList) -> dict[str, float]:
    """Each cost line and the total, in dollars per million orders of the same mix."""
    totals = {
        "Step Functions": prices["stepfunctions_standard_transitions"].of(usage.transitions),
        "Lambda requests": prices["lambda_requests"].of(usage.lambda_requests),
        "Lambda duration": sum(
            prices[f"lambda_duration_{architecture}"].of(amount)
            for architecture, amount in sorted(usage.lambda_gb_seconds.items())
        ),
        "DynamoDB writes": prices["dynamodb_write_request_units"].of(usage.write_units),
        "DynamoDB reads": prices["dynamodb_read_request_units"].of(usage.read_units),
        "EventBridge": prices["eventbridge_custom_events"].of(usage.events),
        "SQS": prices["sqs_requests"].of(usage.sqs_requests),
    }
    lines = {name: usage.per_order(amount) * PER_ORDERS for name, amount in totals.items()}
    lines[TOTAL] = sum(lines.values())
    return lines
