"""Plain HTTP from a test to a server another process runs: a page from it."""

from __future__ import annotations

import urllib.error
import urllib.request


def get_page(url: str) -> tuple[int, str]:
    """The HTTP status and body, a refusal's included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return int(refused.code), refused.read().decode()
