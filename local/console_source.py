"""The console's data from the local runtime: its status function invoked as its URL would invoke it,
and its Step Functions for an order's graph."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from cli.executions import execution_definition, execution_history
from cli.picture import render_svg
from console.source import BadRequest, NotFound
from local.gateway import function_url_event
from local.runtime import LocalRuntime


@dataclass
class LocalSource:
    """The local runtime's status function, invoked as its URL would invoke it; its Step Functions."""

    runtime: LocalRuntime
    model_name: str

    def order(self, order_id: str) -> dict[str, Any]:
        return self._get(f"/orders/{quote(order_id, safe='')}")

    def orders(self, parameters: dict[str, str]) -> dict[str, Any]:
        return self._get(f"/orders?{urlencode(sorted(parameters.items()))}")

    def graph(self, execution_arn: str, title: str) -> str:
        sfn = self.runtime.stepfunctions
        return render_svg(execution_definition(sfn, execution_arn), execution_history(sfn, execution_arn), title=title)

    def _get(self, target: str) -> dict[str, Any]:
        function = self.runtime.function_with_handler("lambdas.status.handler.handler")
        response = self.runtime.invoke(function, function_url_event("GET", target, {}, b""))
        body: dict[str, Any] = json.loads(response["body"])
        if response["statusCode"] == 404:
            raise NotFound(body.get("message", "not found"))
        if response["statusCode"] != 200:
            raise BadRequest(body.get("message", f"HTTP {response['statusCode']}"))
        return body
