"""The status function's reads: one DynamoDB request per call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdas.choreography import table


class StatusStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def instance_records(self, instance_id: str) -> dict[str, Mapping[str, Any]]:
        """Every record of one instance (its status and one per milestone), by sort key, in one Query."""
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression=f"{table.PARTITION_KEY} = :id",
            ExpressionAttributeValues={":id": {"S": instance_id}},
            ConsistentRead=True,
        )
        return {item[table.SORT_KEY]["S"]: table.plain(item) for item in response["Items"]}
