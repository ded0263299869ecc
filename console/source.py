"""Where the console's pages get their data: the status function's answers, and an order's execution
drawn as a graph. local/console_source.py reads the local runtime's (make serve)."""

from __future__ import annotations

from typing import Any, Protocol


class NotFound(LookupError):
    """The status function has no such order."""


class BadRequest(ValueError):
    """The status function refused the request: its message names the parameter."""


class Source(Protocol):
    model_name: str  # as the model names itself

    def order(self, order_id: str) -> dict[str, Any]: ...

    def orders(self, parameters: dict[str, str]) -> dict[str, Any]: ...

    def graph(self, execution_arn: str, title: str) -> str: ...
