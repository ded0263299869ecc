"""What the command line believes of a status server: the local endpoint only from loopback, about loopback."""

from __future__ import annotations

import pytest

from cli.client import _local_endpoint


@pytest.mark.parametrize(
    ("status_url", "advertised", "believed"),
    [
        ("http://127.0.0.1:8123/", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://localhost:8123/", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://127.0.0.1:8123/", None, None),  # a deployed stack's status function names none
        # A remote server must not send the signed Step Functions reads anywhere.
        ("https://abc.lambda-url.eu-west-1.on.aws/", "http://127.0.0.1:5000", None),
        ("http://127.0.0.1:8123/", "https://attacker.example", None),
    ],
)
def test_the_local_endpoint_is_believed_only_from_loopback_about_loopback(
    status_url: str, advertised: str | None, believed: str | None
) -> None:
    assert _local_endpoint(status_url, advertised) == believed
