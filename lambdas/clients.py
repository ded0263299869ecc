"""AWS clients for the handlers, made with botocore alone: boto3 would add its resource layer and
s3transfer to every cold start's imports, and the handlers use neither."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.session import get_session


def clients(*services: str, config: Config | None = None) -> list[Any]:
    """One client per service, from one session (a session loads its data files once)."""
    session = get_session()
    return [session.create_client(service, config=config) for service in services]
