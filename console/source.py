"""Where the console's pages get their data, for one model's stack: the status function's answers, its
state machine's executions and definition, its queues. Local (make serve) and deployed stacks differ
only in the clients handed in and in how executions are counted (console/executions.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from cli.client import StatusError
from cli.executions import execution_definition, execution_history
from cli.picture import render_svg
from console.executions import RETENTION_SECONDS, ExecutionCounts
from console.queues import QueueDepth, QueuedMessage, depth, peek


class NotFound(LookupError):
    """The status function has no such order."""


class BadRequest(ValueError):
    """The status function refused the request: its message names the parameter."""


class StatusReader(Protocol):
    """The status function's URL: a GET of a path with its query parameters, the JSON answer back, or
    StatusError with the HTTP status and the function's message."""

    def get(self, path: str, parameters: dict[str, str] | None = None) -> dict[str, Any]: ...


@dataclass
class StackSource:
    status: StatusReader
    stepfunctions: Any  # a boto3 Step Functions client
    sqs: Any  # a boto3 SQS client
    state_machine_arn: str  # the current model version's, where new orders start
    state_machine_arns: Sequence[str]  # every shipped version's, oldest first
    queue_urls: Mapping[str, str]  # rule, correlator, quarantine -> URL
    # (seconds since the oldest machine's creation, recent seconds) -> executions started and ended in each
    count_executions: Callable[[int, int], ExecutionCounts]
    counts_ttl_seconds: float = 0.0  # how long counts are kept before they are read again
    _model: dict[str, Any] = field(default_factory=dict)
    _machine: dict[str, Any] = field(default_factory=dict)
    _oldest_created: datetime | None = None
    _model_graph: str = ""
    _counted: tuple[float, int, ExecutionCounts] | None = None

    @property
    def model(self) -> dict[str, Any]:
        """The model the status function reads orders with (read once: a deployment changes it)."""
        if not self._model:
            self._model = self._get("model")
        return self._model

    @property
    def model_name(self) -> str:
        name: str = self.model["model"]
        return name

    def order(self, order_id: str) -> dict[str, Any]:
        return self._get(f"orders/{quote(order_id, safe='')}")

    def orders(self, parameters: dict[str, str]) -> dict[str, Any]:
        return self._get("orders", parameters)

    def deviations(self, parameters: dict[str, str]) -> dict[str, Any]:
        return self._get("deviations", parameters)

    def graph(self, execution_arn: str, title: str) -> str:
        sfn = self.stepfunctions
        return render_svg(execution_definition(sfn, execution_arn), execution_history(sfn, execution_arn), title=title)

    @property
    def machine(self) -> dict[str, Any]:
        """The current version's state machine's description (read once: its definition)."""
        if not self._machine:
            self._machine = self.stepfunctions.describe_state_machine(stateMachineArn=self.state_machine_arn)
        return self._machine

    def model_graph(self) -> str:
        """The definition drawn once: the overview shows it on every refresh, and it changes only with a
        deployment, as the model read once does."""
        if not self._model_graph:
            definition = json.loads(self.machine["definition"])
            self._model_graph = render_svg(definition, [], title=f"{self.model_name} {self.model['version']}")
        return self._model_graph

    def executions(self, recent_seconds: int) -> ExecutionCounts:
        """Executions started and ended on every shipped version's machine, since the oldest one's creation
        and in the recent window; read again only after counts_ttl_seconds (metrics have a one-minute
        resolution at best)."""
        now = time.monotonic()
        if self._counted and self._counted[1] == recent_seconds and now - self._counted[0] < self.counts_ttl_seconds:
            return self._counted[2]
        if self._oldest_created is None:
            oldest_arn = self.state_machine_arns[0]
            oldest = (
                self.machine
                if oldest_arn == self.state_machine_arn
                else self.stepfunctions.describe_state_machine(stateMachineArn=oldest_arn)
            )
            self._oldest_created = oldest["creationDate"]
        age = int((datetime.now(UTC) - self._oldest_created).total_seconds()) + 60
        counts = self.count_executions(min(age, RETENTION_SECONDS), recent_seconds)
        self._counted = (now, recent_seconds, counts)
        return counts

    def queues(self) -> list[QueueDepth]:
        return [depth(self.sqs, name, url) for name, url in self.queue_urls.items()]

    def sample(self, queue: str) -> list[QueuedMessage]:
        if queue not in self.queue_urls:
            raise NotFound(f"no queue {queue!r}: the queues are {', '.join(self.queue_urls)}")
        return peek(self.sqs, self.queue_urls[queue])

    def _get(self, path: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            return self.status.get(path, parameters)
        except StatusError as error:
            if error.status == 404:
                raise NotFound(error.message) from None
            raise BadRequest(error.message) from None
