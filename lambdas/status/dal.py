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

    def instances_by_status(
        self, status: str, *, milestone: str | None, limit: int, start_key: Mapping[str, str] | None
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """Instance items of one status, newest first, in one Query of the sparse status index.

        A milestone filter is applied after the read (DynamoDB's Limit counts items read), so a page
        may hold fewer items than the limit and still be followed by another.
        """
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": table.STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": table.STATUS},
            "ExpressionAttributeValues": {":status": {"S": status}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if milestone is not None:
            request["FilterExpression"] = "#milestone = :milestone"
            request["ExpressionAttributeNames"]["#milestone"] = table.MILESTONE_OF_STATUS[status]
            request["ExpressionAttributeValues"][":milestone"] = {"S": milestone}
        return self._page(request, start_key)

    def deviating_instances(
        self, model_name: str, *, limit: int, start_key: Mapping[str, str] | None
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """Instance items marked out of order, the latest marked first, in one Query of the sparse index."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": table.DEVIATION_INDEX,
            "KeyConditionExpression": f"{table.DEVIATING} = :model",
            "ExpressionAttributeValues": {":model": {"S": model_name}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        return self._page(request, start_key)

    def _page(
        self, request: dict[str, Any], start_key: Mapping[str, str] | None
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of an index's Query, from the previous page's last key (a listing's token)."""
        if start_key:
            request["ExclusiveStartKey"] = {name: {"S": value} for name, value in start_key.items()}
        response = self.client.query(**request)
        last_key = response.get("LastEvaluatedKey")
        return [table.plain(item) for item in response["Items"]], table.plain(last_key) if last_key else None
