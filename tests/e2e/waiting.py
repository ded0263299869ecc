"""Waiting on a page that updates itself: each wait ends when its condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable

WAIT_S = 60.0  # an upper bound on a busy machine


def until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
