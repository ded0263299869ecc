"""The status function's URL on this machine: HTTP in, the real handler, HTTP out.

Like a Lambda Function URL with AWS_IAM auth, it answers only requests signed with Signature Version 4
by known credentials (403 otherwise), so the command line signs its requests the same way locally as
against a deployed stack.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cli.client import LOCAL_ENDPOINT_HEADER
from local.runtime import LOCAL_ENVIRONMENT, LocalFunction, LocalRuntime

# The local runtime's own credentials: what its handlers, and a shell pointed at it, sign with.
LOCAL_CREDENTIALS = {LOCAL_ENVIRONMENT["AWS_ACCESS_KEY_ID"]: LOCAL_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"]}
SERVICE = "lambda"
CLOCK_SKEW = timedelta(minutes=15)  # AWS refuses signatures older or newer than this
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
FORBIDDEN = {"Message": "Forbidden"}


def signature_problem(
    method: str, url: str, headers: Mapping[str, str], body: bytes, secrets: Mapping[str, str]
) -> str | None:
    """Why a request's SigV4 signature is not valid for these credentials, or None when it is."""
    headers = {name.lower(): value for name, value in headers.items()}
    match = AUTHORIZATION.match(headers.get("authorization", ""))
    if not match:
        return "not signed with AWS4-HMAC-SHA256"
    if match["service"] != SERVICE:
        return f"signed for {match['service']}, not {SERVICE}"
    secret = secrets.get(match["key"])
    if secret is None:
        return "unknown access key"
    timestamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "no valid X-Amz-Date"
    if abs(datetime.now(UTC) - signed_at) > CLOCK_SKEW:
        return "signature expired"
    signed = match["headers"].split(";")
    if "host" not in signed or any(name not in headers for name in signed):
        return "signed headers missing"
    request = AWSRequest(method=method, url=url, data=body, headers={name: headers[name] for name in signed})
    request.context["timestamp"] = timestamp
    auth = SigV4Auth(Credentials(match["key"], secret), SERVICE, match["region"])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, match["signature"]) else "signature does not match"


def function_url_event(method: str, target: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """A Function URL request (payload format 2.0), as Lambda hands it to the handler."""
    path, _, query = target.partition("?")
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": body.decode() if body else None,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    return event


class StatusGateway:
    def __init__(self, runtime: LocalRuntime, function: LocalFunction, secrets: Mapping[str, str]) -> None:
        self.runtime = runtime
        self.function = function
        self.secrets = secrets
        self.endpoint = f"http://127.0.0.1:{runtime.port}" if runtime.port else None

    def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if signature_problem(method, url, headers, body, self.secrets):
            return 403, {"Content-Type": "application/json"}, json.dumps(FORBIDDEN).encode()
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.runtime.invoke(self.function, function_url_event(method, target, headers, body))
        answered = dict(response.get("headers") or {})
        if self.endpoint:  # served (make serve): name the AWS endpoint, for `picture` to read Step Functions there
            answered[LOCAL_ENDPOINT_HEADER] = self.endpoint
        return int(response["statusCode"]), answered, str(response.get("body", "")).encode()


@contextlib.contextmanager
def serve_status(runtime: LocalRuntime, port: int = 0, secrets: Mapping[str, str] = LOCAL_CREDENTIALS) -> Iterator[str]:
    """Serve the runtime's status function on 127.0.0.1; yields its URL."""
    gateway = StatusGateway(runtime, runtime.function_with_handler("lambdas.status.handler.handler"), secrets)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            status, headers, payload = gateway.handle(self.command, url, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the handler logs each request itself

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="status-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
