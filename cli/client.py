"""Calls to the status function's URL, signed with Signature Version 4 as its AWS_IAM auth requires."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from cli.stack import required, stack_outputs

FORBIDDEN = 403
# Names the AWS endpoint of `make serve` (local/gateway.py sends it), so `picture` reads the local Step
# Functions rather than the real one; believed only from a loopback status URL (_local_endpoint below).
LOCAL_ENDPOINT_HEADER = "X-Local-Aws-Endpoint"
# What a caller of a Function URL with AWS_IAM auth needs (both, for URLs created since October 2025).
CALLER_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")
FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.on\.aws$")


class StatusError(RuntimeError):
    """The status URL refused a request: the HTTP status and the function's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class StatusClient:
    def __init__(self, url: str, credentials: Any, region: str, timeout_s: float = 30.0) -> None:
        """credentials: botocore credentials (a session's get_credentials()); region: the URL's region
        when it is a Lambda Function URL, else this one."""
        self.url = url if url.endswith("/") else f"{url}/"
        host = urlsplit(self.url).hostname or ""
        match = FUNCTION_URL_HOST.match(host)
        self.region = match["region"] if match else region
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.local_endpoint: str | None = None  # the AWS endpoint of `make serve`, when that is what answers

    def order(self, order_id: str) -> dict[str, Any]:
        return self.get(f"orders/{quote(order_id, safe='')}")

    def orders(
        self, status: str, milestone: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        return self.get("orders", _given(status=status, milestone=milestone, limit=limit, next=next_token))

    def deviations(self, limit: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        return self.get("deviations", _given(limit=limit, next=next_token))

    def get(self, path: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        url = urljoin(self.url, path) + (f"?{urlencode(sorted(parameters.items()))}" if parameters else "")
        request = AWSRequest(method="GET", url=url)
        SigV4Auth(self.credentials.get_frozen_credentials(), "lambda", self.region).add_auth(request)
        prepared = urllib.request.Request(url, headers=dict(request.headers.items()), method="GET")
        try:
            with urllib.request.urlopen(prepared, timeout=self.timeout_s) as response:
                body: dict[str, Any] = json.loads(response.read())
                self.local_endpoint = _local_endpoint(self.url, response.headers.get(LOCAL_ENDPOINT_HEADER))
                return body
        except urllib.error.HTTPError as error:
            message = _message(error.read())
            if error.code == FORBIDDEN:
                message = f"{message}. {self.forbidden_hint()}"
            raise StatusError(error.code, message) from None

    def forbidden_hint(self) -> str:
        """Who signed, and what that principal needs: a 403 from a Function URL says neither."""
        frozen = self.credentials.get_frozen_credentials()
        source = getattr(self.credentials, "method", None) or "unknown source"
        return (
            f"Signed with access key {frozen.access_key} ({source}) for region {self.region}. The caller needs "
            f"{' and '.join(CALLER_ACTIONS)} on the status function: attach the stack's StatusReadersPolicyArn "
            "output (a managed policy granting both) to your user or role. Against make serve, sign with the "
            "local runtime's credentials: AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local."
        )


def _given(**parameters: object) -> dict[str, str]:
    """A query's parameters, those given only."""
    return {name: str(value) for name, value in parameters.items() if value is not None}


def _local_endpoint(status_url: str, advertised: str | None) -> str | None:
    """The endpoint a local status server names, believed only from loopback and only if loopback: a
    remote server must not send the command line's signed Step Functions reads elsewhere."""
    loopback = ("127.0.0.1", "localhost", "::1")
    if not advertised or urlsplit(status_url).hostname not in loopback:
        return None
    return advertised if urlsplit(advertised).hostname in loopback else None


def _message(payload: bytes) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")[:500]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("Message") or body)
    return str(body)


def status_url_of_stack(cloudformation: Any, stack_name: str) -> str:
    """The StatusUrl output of a deployed monitor stack."""
    (url,) = required(stack_outputs(cloudformation, stack_name), stack_name, ["StatusUrl"])
    return url
