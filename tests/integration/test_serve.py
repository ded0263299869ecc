"""Server mode: a client that only knows the endpoint puts events on the bus and sees the execution."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from stacks.packaging import PROJECT_ROOT

WAIT_S = 400  # how long a condition may take on a machine whose cores are both busy

CLIENT = textwrap.dedent(
    """
    import json, sys, time, boto3
    endpoint, bus, entries, name = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    from botocore.config import Config
    patient = Config(read_timeout=float(sys.argv[5]), retries={"mode": "standard", "max_attempts": 10})
    kwargs = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                  config=patient)
    events, sfn = boto3.client("events", **kwargs), boto3.client("stepfunctions", **kwargs)
    deadline = time.monotonic() + float(sys.argv[5])  # an upper bound on a busy machine: each wait ends when met
    while time.monotonic() < deadline:  # wait for the server, then for the monitor's resources on it
        try:
            events.describe_event_bus(Name=bus)
            sfn.list_state_machines()["stateMachines"][0]
            break
        except Exception:
            time.sleep(0.1)
    for entry in entries:
        events.put_events(Entries=[{"EventBusName": bus, **entry}])
        time.sleep(0.3)
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + name
    status = "NOT STARTED"
    while time.monotonic() < deadline:  # the server handles events as it pumps them, a little after they were put
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
        except sfn.exceptions.ExecutionDoesNotExist:
            pass
        if status not in ("NOT STARTED", "RUNNING"):
            break
        time.sleep(0.1)
    print(status)
    """
)


def _cli(status_port: int, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The command line against the served status URL, signed with the local runtime's credentials."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--url", f"http://127.0.0.1:{status_port}/", "--json", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_events_put_through_the_endpoint_complete_an_order(
    order_model: Choreography, assembly_dir: Path, tmp_path: Path
) -> None:
    port, status_port = _free_port(), _free_port()
    # To a file, not a pipe: a pipe nobody reads until the end blocks a server that writes more than it holds.
    log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.serve",
            "--model",
            order_model.name,
            "--port",
            str(port),
            "--status-port",
            str(status_port),
            "--seconds",
            str(WAIT_S + 60),  # the test stops it; this only bounds a server left behind
            "--assembly",  # the session's synthesis: a fresh clone has no cdk.out to serve yet
            str(assembly_dir),
        ],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Ready when it says so: it prints its address once the rules are in place. A bus that exists
        # before its rules would take events and route none.
        deadline = time.monotonic() + WAIT_S
        while "serving at" not in Path(log.name).read_text(encoding="utf-8") and time.monotonic() < deadline:
            assert server.poll() is None, Path(log.name).read_text(encoding="utf-8")[-2000:]
            time.sleep(0.2)
        entries = [
            {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
            for e in EventFactory(order_model).lifecycle("SERVE-1")
        ]
        client = subprocess.run(
            [
                sys.executable,
                "-c",
                CLIENT,
                f"http://127.0.0.1:{port}",
                f"{order_model.name}-events",
                json.dumps(entries),
                "SERVE-1",
                str(WAIT_S),
            ],
            capture_output=True,
            text=True,
            timeout=WAIT_S + 30,
            check=False,
        )
        assert client.stdout.strip().splitlines()[-1:] == ["SUCCEEDED"], client.stderr[-2000:]
        status = _cli(status_port, "status", "SERVE-1")
        assert status.returncode == 0, status.stderr[-2000:]
        assert json.loads(status.stdout)["status"] == table.COMPLETED
        # Given only the status URL, picture finds the served endpoint for its Step Functions reads.
        picture = _cli(status_port, "picture", "SERVE-1", "--out", str(tmp_path))
        assert picture.returncode == 0, picture.stderr[-2000:]
        drawn = Path(json.loads(picture.stdout)["picture"])
        assert 'data-state="Completed" data-outcome="done"' in drawn.read_text(encoding="utf-8")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.seek(0)
        output = log.read()
        log.close()
    # The request log is off unless --verbose.
    assert "GET /" not in output
    assert "POST /" not in output
    assert f"serving at http://127.0.0.1:{port}" in output
    assert f"status URL http://127.0.0.1:{status_port}/" in output
