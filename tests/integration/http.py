"""Plain HTTP from a test to a server another process runs: a free port for it, a page from it."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_page(url: str) -> tuple[int, str]:
    """The HTTP status and body, a refusal's included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return int(refused.code), refused.read().decode()
