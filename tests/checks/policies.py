"""Just enough of IAM's policy evaluation to ask "may this principal do this action on this resource,
in this request context?" of a resource policy or an identity policy from a template: an explicit allow
whose conditions all hold, and no deny that applies."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    service: str | None = None  # the calling AWS service's principal, for a resource policy
    context: Mapping[str, str] = field(default_factory=dict)  # aws:SourceArn, aws:SourceAccount, ...


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str | None) -> bool:
    if principal is None:  # an identity policy: the principal is the role it is attached to
        return service is None
    if principal == "*":
        return True
    return service is not None and service in as_list(principal.get("Service", []))


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _equals(expected: str, actual: str) -> bool:
    return actual == expected


def _bool(expected: str, actual: str) -> bool:
    return actual.lower() == str(expected).lower()


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _equals,
    "StringLike": _like,
    "ArnEquals": _equals,
    "ArnLike": _like,
    "Bool": _bool,
}


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        if operator not in OPERATORS:
            raise LookupError(f"condition operator {operator} is not evaluated here")
        for key, expected in tests.items():
            actual = context.get(key)
            if actual is None or not any(OPERATORS[operator](value, actual) for value in as_list(expected)):
                return False
    return True


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    return (
        _principal_matches(statement.get("Principal"), request.service)
        and any(_like(action.lower(), request.action.lower()) for action in as_list(statement["Action"]))
        and any(_like(str(resource), request.resource) for resource in as_list(statement["Resource"]))
        and _conditions_hold(statement.get("Condition", {}), request.context)
    )


def allowed(statements: Iterable[Mapping[str, Any]], request: Request) -> bool:
    statements = list(statements)
    denied = any(s["Effect"] == "Deny" and _applies(s, request) for s in statements)
    return not denied and any(s["Effect"] == "Allow" and _applies(s, request) for s in statements)
