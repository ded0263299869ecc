"""The mark an instance carries once its services acted out of the modelled order: the milestone pairs,
on its `#instance` item, where the sparse `byDeviation` index lists it.

Two writers make it, each with one idempotent UpdateItem: the correlator, as soon as its writes measure
a pair out of order, and the check at the execution's end (lambdas/conformance/handler.py), which reads
every milestone and so finds the pairs the event path cannot measure. The write returns the pairs marked
before it, so only the new ones are counted: no pair is counted twice, whoever marks it and however
often an event or an execution's end is delivered.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.choreography import table
from lambdas.choreography.metrics import OUT_OF_ORDER

# Here, not beside the end check's logic: the correlator imports this module, and need not load the status
# function's logic at its cold start.
Pair = tuple[str, str]  # (milestone, the milestone it follows): the first one's service acted first
PAIR_SEPARATOR = "<"  # milestone names are letters and digits


def pair_key(pair: Pair) -> str:
    return PAIR_SEPARATOR.join(pair)


def pair_of(key: str) -> Pair:
    milestone, follows = key.split(PAIR_SEPARATOR, 1)
    return milestone, follows


class DeviationMarks:
    def __init__(self, client: Any, table_name: str, model_name: str) -> None:
        self.client = client
        self.table_name = table_name
        self.model_name = model_name

    def mark(
        self, instance_id: str, early_by: Mapping[Pair, float], marked_at: datetime, *, started_only: bool = False
    ) -> set[Pair]:
        """Add the pairs, with how many seconds early each one's event was, to the instance's mark; return
        those it did not carry yet. `started_only`: mark only an instance whose start is recorded (an
        event never creates the `#instance` item, which would otherwise read as a started order; the
        check at the execution's end marks it then)."""
        if not early_by:
            return set()
        pairs = sorted(early_by)
        condition = {"ConditionExpression": f"attribute_exists({table.STARTED_BY})"} if started_only else {}
        # One attribute per pair (a map's member cannot be set where the map may not exist yet).
        seconds = "".join(f", #e{n} = if_not_exists(#e{n}, :e{n})" for n in range(len(pairs)))
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={table.PARTITION_KEY: {"S": instance_id}, table.SORT_KEY: {"S": table.INSTANCE_SK}},
                UpdateExpression=(
                    f"SET {table.DEVIATING} = :model, "
                    f"{table.DEVIATING_SINCE} = if_not_exists({table.DEVIATING_SINCE}, :at){seconds} "
                    f"ADD {table.OUT_OF_ORDER} :pairs"
                ),
                ExpressionAttributeNames={f"#e{n}": table.EARLY_BY + pair_key(pair) for n, pair in enumerate(pairs)},
                ExpressionAttributeValues={
                    ":model": {"S": self.model_name},
                    ":at": {"S": marked_at.isoformat()},
                    ":pairs": {"SS": [pair_key(pair) for pair in pairs]},
                    **{f":e{n}": {"N": str(early_by[pair])} for n, pair in enumerate(pairs)},
                },
                ReturnValues="ALL_OLD",  # the pairs marked before, whether or not this write adds any
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return set()
            raise
        before = table.plain(response.get("Attributes")).get(table.OUT_OF_ORDER) or set()
        return {pair for pair in pairs if pair_key(pair) not in before}


def count_out_of_order(pairs: Collection[Pair], service: str | None = None) -> None:
    """One OutOfOrder per pair (dimensions milestone and follows) and all of them together (the service's
    dimension alone, for one alarm). `service`: the dimension's value, where it is not this function's
    own, so that both writers' counts fall in the same metric."""
    for milestone, follows in sorted(pairs):
        with _out_of_order(1, service) as metric:
            metric.add_dimension("milestone", milestone)
            metric.add_dimension("follows", follows)
    if pairs:
        with _out_of_order(len(pairs), service):
            pass


@contextmanager
def _out_of_order(value: int, service: str | None) -> Iterator[Any]:
    dimensions = {"service": service} if service else None
    with single_metric(name=OUT_OF_ORDER, unit=MetricUnit.Count, value=value, default_dimensions=dimensions) as m:
        yield m
