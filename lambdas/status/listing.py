"""Listing instances by status, or those that deviated from the modelled order: the request's parameters,
the page token, and one entry per instance.

Pure: the handler hands in the query string, the store runs the one Query, this module shapes both ends.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import version_of_execution
from lambdas.conformance.marks import pair_key, pair_of
from lambdas.status.logic import console_link

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
PARAMETERS = ("status", "milestone", "limit", "next")
# The index's key plus the table's: what DynamoDB hands back as LastEvaluatedKey for the status index.
PAGE_KEY = (table.STATUS, table.STATUS_UPDATED_AT, table.PARTITION_KEY, table.SORT_KEY)
DEVIATION_PARAMETERS = ("limit", "next")
DEVIATION_PAGE_KEY = (table.DEVIATING, table.DEVIATING_SINCE, table.PARTITION_KEY, table.SORT_KEY)


class InvalidParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class ListRequest:
    status: str
    milestone: str | None
    limit: int
    start_key: dict[str, str] | None


@dataclass(frozen=True)
class DeviationRequest:
    limit: int
    start_key: dict[str, str] | None


def parse_list_request(
    model: Choreography, parameters: Mapping[str, str] | None, milestone_names: Sequence[str] = ()
) -> ListRequest:
    """`milestone_names`: every shipped version's milestones (default: the model's)."""
    parameters = _known(parameters, PARAMETERS)
    status = parameters.get("status", "")
    if status not in table.STATUSES:
        raise InvalidParameter("status", f"{status[:40]!r} is not one of {', '.join(table.STATUSES)}")
    milestone = parameters.get("milestone")
    if milestone is not None:
        if status not in table.MILESTONE_OF_STATUS:
            raise InvalidParameter(
                "milestone",
                f"filters {' or '.join(table.MILESTONE_OF_STATUS)} orders only: "
                "the table records an order's milestone only where it stopped",
            )
        names = list(milestone_names) or [m.name for m in model.milestones]
        if milestone not in names:
            raise InvalidParameter(
                "milestone", f"{milestone[:60]!r} is not a milestone of {model.name}: {', '.join(names)}"
            )
    start_key = _start_key(parameters.get("next"), PAGE_KEY)
    if start_key and start_key[table.STATUS] != status:
        raise InvalidParameter("next", f"belongs to the listing of {start_key[table.STATUS]} orders, not {status}")
    return ListRequest(status, milestone, _limit(parameters.get("limit")), start_key)


def parse_deviation_request(parameters: Mapping[str, str] | None) -> DeviationRequest:
    parameters = _known(parameters, DEVIATION_PARAMETERS)
    return DeviationRequest(_limit(parameters.get("limit")), _start_key(parameters.get("next"), DEVIATION_PAGE_KEY))


def _known(parameters: Mapping[str, str] | None, known: Sequence[str]) -> Mapping[str, str]:
    parameters = parameters or {}
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise InvalidParameter(unknown[0], f"unknown parameter; known: {', '.join(known)}")
    return parameters


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidParameter("limit", f"{raw[:20]!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_page_token(last_key: Mapping[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(last_key), separators=(",", ":")).encode()).decode()


def _start_key(token: str | None, page_key: Sequence[str]) -> dict[str, str] | None:
    if token is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, dict)
        or sorted(key) != sorted(page_key)
        or not all(isinstance(value, str) for value in key.values())
    ):
        raise InvalidParameter("next", "is not a page token returned by this listing")
    return key


def describe_entry(model: Choreography, item: Mapping[str, Any]) -> dict[str, Any]:
    """One instance in a listing, from the one item the index holds for it."""
    status = item[table.STATUS]
    if item[table.SORT_KEY] != table.INSTANCE_SK:  # a stuck milestone's own item
        entry: dict[str, Any] = {
            model.instance_key: item[table.PARTITION_KEY],
            "status": status,
            "milestone": item[table.SORT_KEY],
            "since": item.get(table.STATUS_UPDATED_AT),
            "waitingSince": item.get(table.WAITING_SINCE),
            "escalations": int(item.get(table.ESCALATIONS, 0)),
        }
        execution_arn = item.get(table.EXECUTION_ARN)
    else:
        started_by = item.get(table.STARTED_BY, {})
        entry = {
            model.instance_key: item[table.PARTITION_KEY],
            "status": status,
            "since": item.get(table.STATUS_UPDATED_AT),
            "startedAt": started_by.get(table.EVENT_TIME),
        }
        if table.FAILED_MILESTONE in item:
            entry["milestone"] = item[table.FAILED_MILESTONE]
        execution_arn = started_by.get(table.EXECUTION_ARN)
    if execution_arn:
        entry["consoleUrl"] = console_link(execution_arn)
        entry["modelVersion"] = version_of_execution(execution_arn, model.name)
    return entry


def describe_page(
    model: Choreography, request: ListRequest, items: Sequence[Mapping[str, Any]], last_key: Mapping[str, str] | None
) -> dict[str, Any]:
    page: dict[str, Any] = {
        "model": model.name,
        "key": model.instance_key,  # each entry's id is under this name, the services' own
        "status": request.status,
        "orders": [describe_entry(model, item) for item in items],
    }
    if request.milestone:
        page["milestone"] = request.milestone
    if last_key:
        page["next"] = encode_page_token(last_key)
    return page


def describe_deviation_page(
    model: Choreography,
    request: DeviationRequest,
    items: Sequence[Mapping[str, Any]],
    last_key: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The instances whose services acted out of the modelled order, the latest marked first: each with
    the pairs (how early: the order's own status answer) and when the first was marked."""
    orders = []
    for item in items:
        pairs = sorted(pair_of(key) for key in item.get(table.OUT_OF_ORDER, ()))
        orders.append(
            {
                **describe_entry(model, item),
                "deviatingSince": item.get(table.DEVIATING_SINCE),
                "outOfOrder": [
                    {
                        "milestone": milestone,
                        "follows": follows,
                        "earlyBySeconds": _seconds(item.get(table.EARLY_BY + pair_key((milestone, follows)))),
                    }
                    for milestone, follows in pairs
                ],
            }
        )
    page: dict[str, Any] = {"model": model.name, "key": model.instance_key, "orders": orders}
    if last_key:
        page["next"] = encode_page_token(last_key)
    return page


def _seconds(value: Any) -> float | None:
    return float(value) if value is not None else None
