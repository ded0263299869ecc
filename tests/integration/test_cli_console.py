"""`python -m cli console --stack NAME` as a user runs it against a deployed stack: here the local runtime
behind its AWS endpoint stands for the account, with a CloudFormation stack whose outputs name the
runtime's resources and its signed status URL. The command finds everything from the outputs, reads
counts from Step Functions' metrics, and serves the same pages, on loopback, to the token's holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from cli.__main__ import main
from cli.redrive import QUEUE_OUTPUTS
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.gateway import serve_status
from local.runtime import LocalRuntime
from local.serve import free_port
from stacks.packaging import PROJECT_ROOT
from tests.integration.conftest import stack_with_outputs
from tests.integration.http import get_page

WAIT_S = 300.0  # an upper bound on a machine whose cores are both busy


@pytest.fixture(scope="module")
def account(order_stack: StackTemplate) -> Iterator[tuple[LocalRuntime, str]]:
    """The runtime behind its endpoint, and its status URL."""
    with LocalRuntime(order_stack, port=free_port()) as runtime, serve_status(runtime, 0) as status_url:
        yield runtime, status_url


def _deployed_stack(runtime: LocalRuntime, status_url: str) -> str:
    """A stack on the endpoint's CloudFormation with a monitor stack's outputs, naming the runtime's."""
    outputs = runtime.stack.template["Outputs"]
    values = {name: runtime.resolve(outputs[name]["Value"]) for name in QUEUE_OUTPUTS.values()}
    values |= {
        "StatusUrl": status_url,
        "StateMachineArn": runtime.state_machine_arn,
        "StateMachineArns": ",".join(runtime.state_machine_arns),
    }
    return stack_with_outputs(runtime, f"ConsoleTest{time.monotonic_ns() % 10**6}", values)


def test_the_console_of_a_deployed_stack_reads_it_with_the_users_credentials(
    account: tuple[LocalRuntime, str], order_model: Choreography, tmp_path: Path
) -> None:
    runtime, status_url = account
    stack = _deployed_stack(runtime, status_url)
    order_id = f"ORD-D\u00fcsseldorf-{time.monotonic_ns() % 10**6}"
    runtime.deliver(EventFactory(order_model).event(order_model.start_event, order_id))
    assert runtime.wait_until_waiting(order_id, order_model.milestones[0].name, WAIT_S)
    # What Step Functions would have counted: the local one emits no metrics.
    runtime.session_client("cloudwatch").put_metric_data(
        Namespace="AWS/States",
        MetricData=[
            {
                "MetricName": "ExecutionsStarted",
                "Dimensions": [{"Name": "StateMachineArn", "Value": runtime.state_machine_arn}],
                "Timestamp": datetime.now(UTC),
                "Value": 1,
            }
        ],
    )
    endpoint = f"http://127.0.0.1:{runtime.port}"
    log = (tmp_path / "console.log").open("w+", encoding="utf-8")
    command = [sys.executable, "-m", "cli", "console", "--stack", stack, "--endpoint-url", endpoint]
    served = subprocess.Popen(
        [*command, "--seconds", str(WAIT_S + 30), "--region", "us-east-1"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while "console http" not in Path(log.name).read_text(encoding="utf-8"):
            assert served.poll() is None, Path(log.name).read_text(encoding="utf-8")[-2000:]
            assert time.monotonic() < deadline, "the console never printed its address"
            time.sleep(0.2)
        url = Path(log.name).read_text(encoding="utf-8").split()[1]
        base, token = url.split("/?token=")
        assert base.startswith("http://127.0.0.1:")  # loopback only
        status, overview = get_page(f"{base}/{order_model.name}/?token={token}")
        assert status == 200, overview
        assert (
            '<a class="card" href="/order-fulfillment/orders?status=RUNNING" id="open"><span class="count">1</span>'
            in overview
        )
        status, page = get_page(f"{base}/{order_model.name}/orders/{quote(order_id, safe='')}?token={token}")
        assert status == 200, page
        assert f"awaiting {order_model.milestones[0].name}" in page
        assert f'data-state="{order_model.milestones[0].name}" data-outcome="awaiting"' in page  # its graph
        assert get_page(f"{base}/{order_model.name}/")[0] == 403  # without the token
        assert "local" not in overview.replace("localhost", "")  # the credentials never reach the page
    finally:
        served.terminate()
        served.wait(timeout=30)


def test_a_stack_that_is_not_a_monitor_is_named_with_what_it_lacks(
    account: tuple[LocalRuntime, str], capsys: pytest.CaptureFixture[str]
) -> None:
    runtime, _ = account
    name = stack_with_outputs(runtime, f"NotAMonitor{time.monotonic_ns() % 10**6}", {})
    assert main(["console", "--stack", name, "--endpoint-url", f"http://127.0.0.1:{runtime.port}"]) == 1
    assert f"stack {name} has no StatusUrl, StateMachineArn" in capsys.readouterr().err


def test_the_console_refuses_a_bare_status_url() -> None:
    with pytest.raises(SystemExit):
        main(["console", "--url", "https://example.lambda-url.us-east-1.on.aws/"])
