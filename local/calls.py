"""Watch and disturb the AWS calls that the handlers make, and only those.

Hooks sit among botocore's built-in event handlers, so every client a handler builds at its cold start
carries them. They act only inside a handler invocation (a thread-local flag set by the
runtime), never on the state machine interpreter's own calls or on a test's.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from botocore.handlers import BUILTIN_HANDLERS

_inside = threading.local()


class SimulatedCrash(Exception):
    """The handler's process died after an AWS call took effect and before the next one."""


@dataclass(frozen=True)
class Call:
    """One AWS API call a handler made: which function, the IAM service prefix, the operation, its parameters."""

    function: str
    service: str  # the IAM prefix (botocore's signing name): states, not stepfunctions
    operation: str
    parameters: Mapping[str, Any]

    @property
    def action(self) -> str:
        return f"{self.service}:{self.operation}"


@contextmanager
def handler_invocation(function: str = "") -> Iterator[None]:
    """Calls made in the block are `function`'s; an invocation within it (the console invoking the status
    function in-process) has its own, and the outer one's calls resume after it."""
    outer = (getattr(_inside, "active", False), getattr(_inside, "function", ""))
    _inside.active = True
    _inside.function = function
    try:
        yield
    finally:
        _inside.active, _inside.function = outer


def _in_handler() -> bool:
    return bool(getattr(_inside, "active", False))


class CallObserver:
    """Counts the handlers' calls by API name, and injects faults at a given rate."""

    THROTTLES = {
        "dynamodb": ("ThrottlingException", 400),
        "stepfunctions": ("ThrottlingException", 400),
        "sqs": ("RequestThrottled", 403),
    }

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.made: list[Call] = []  # every call, for the IAM coverage check (tests/checks/grants.py)
        self.faults: Counter[str] = Counter()
        self.fault_rate = 0.0
        self._random = random.Random(0)
        self._lock = threading.Lock()
        self._crash_once_after: str | None = None
        # Every session made from now on gets the hooks (moto's mock replaces the default session, and
        # each runtime opens a new mock), as moto's own request interception is installed.
        BUILTIN_HANDLERS.append(("before-parameter-build", self._record))
        BUILTIN_HANDLERS.append(("before-call", self._before_call))
        BUILTIN_HANDLERS.append(("after-call", self._after_call))

    def inject(self, rate: float, seed: int) -> None:
        with self._lock:
            self.fault_rate = rate
            self._random = random.Random(seed)

    def crash_after(self, operation: str) -> None:
        """Crash the next handler call right after `operation` takes effect."""
        with self._lock:
            self._crash_once_after = operation

    def _roll(self) -> bool:
        with self._lock:
            return self.fault_rate > 0 and self._random.random() < self.fault_rate

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if not _in_handler():
            return
        call = Call(getattr(_inside, "function", ""), model.service_model.signing_name, model.name, dict(params))
        with self._lock:
            self.made.append(call)

    def _before_call(self, model: Any, **_: Any) -> None:
        if not _in_handler():
            return
        service = model.service_model.service_name
        with self._lock:
            self.calls[model.name] += 1
        if self._roll():
            code, status = self.THROTTLES.get(service, ("ServiceUnavailable", 503))
            if self._random.random() < 0.5:
                code, status = ("InternalServerError", 500)
            with self._lock:
                self.faults[f"{model.name}:{code}"] += 1
            raise ClientError(
                {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                model.name,
            )

    def _after_call(self, model: Any, **_: Any) -> None:
        if not _in_handler():
            return
        with self._lock:
            planned = self._crash_once_after == model.name
            if planned:
                self._crash_once_after = None
        if planned or self._roll():
            with self._lock:
                self.faults[f"{model.name}:crash-after"] += 1
            raise SimulatedCrash(f"crashed after {model.name} took effect")


_observer: list[CallObserver] = []


def observer() -> CallObserver:
    """The process's one observer (hooks are registered once)."""
    if not _observer:
        _observer.append(CallObserver())
    return _observer[0]
