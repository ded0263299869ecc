"""Run as `python -c` in a fresh interpreter, from a function's staged code: the cold start of its handler
up to its first handled event. The handler's AWS clients are real botocore clients; only the HTTP send
is answered here, from canned bodies by X-Amz-Target, so serialization, signing and parsing are timed.

argv: handler path, the event (JSON), {X-Amz-Target: response body} (JSON). Prints import and total ms.
"""

import json
import sys
import time
from typing import Any

started = time.perf_counter()
module_name, function_name = sys.argv[1].rsplit(".", 1)
handler = getattr(__import__(module_name, fromlist=[function_name]), function_name)
imported = time.perf_counter()

from botocore.awsrequest import AWSResponse  # noqa: E402  (imported by the handler's clients anyway)
from botocore.httpsession import URLLib3Session  # noqa: E402

answers = json.loads(sys.argv[3])


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> list[bytes]:
        return [self.body]


def _send(self: object, request: Any) -> AWSResponse:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    body = json.dumps(answers.get(target, {})).encode()
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))


URLLib3Session.send = _send


class _Context:
    function_name = "cold-start"
    memory_limit_in_mb = 256
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "cold-start"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


handler(json.loads(sys.argv[2]), _Context())
handled = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "first_event_ms": (handled - started) * 1000}))
