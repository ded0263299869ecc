"""Server mode: a client that only knows the endpoint puts events on the bus and sees the execution."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.serve import free_port
from stacks.packaging import PROJECT_ROOT
from tests.integration.http import get_page

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


def test_events_put_through_the_endpoint_complete_an_order(
    order_model: Choreography, assembly_dir: Path, tmp_path: Path
) -> None:
    port, status_port = free_port(), free_port()
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


START = textwrap.dedent(
    """
    import boto3, sys
    endpoint, bus, entry = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    print(events.put_events(Entries=[{"EventBusName": bus, **entry}])["FailedEntryCount"])
    """
).replace("import boto3, sys", "import boto3, json, sys")


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_several_models_are_served_each_by_its_own_process_under_one_console(
    order_model: Choreography, return_model: Choreography, assembly_dir: Path, tmp_path: Path
) -> None:
    log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
    command = [sys.executable, "-m", "local.serve", "--model", order_model.name, "--model", return_model.name]
    server = subprocess.Popen(
        # Port 0: each model's endpoint on a free port of its own, as printed.
        [*command, "--port", "0", "--seconds", str(WAIT_S + 60), "--assembly", str(assembly_dir)],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    names = (order_model.name, return_model.name)
    endpoints: dict[str, int] = {}
    try:
        deadline = time.monotonic() + WAIT_S
        while not all(f"{name} serving at" in Path(log.name).read_text(encoding="utf-8") for name in names):
            assert server.poll() is None, Path(log.name).read_text(encoding="utf-8")[-2000:]
            assert time.monotonic() < deadline, "the models were never served"
            time.sleep(0.2)
        output = Path(log.name).read_text(encoding="utf-8")
        assert output.startswith("console http://127.0.0.1:")  # its address first, then each model's
        served = re.findall(r"^(\S+) serving at http://127\.0\.0\.1:(\d+) ", output, re.MULTILINE)
        endpoints = {name: int(endpoint_port) for name, endpoint_port in served}
        assert sorted(endpoints) == sorted(names)
        assert len(set(endpoints.values())) == 2
        port = endpoints[return_model.name]
        base, token = output.split()[1].split("/?token=")
        # An order of the second model, put on its own endpoint, is open in its overview and not in the first's.
        start = EventFactory(return_model).event(return_model.start_event, "RET-\u00fc-1")
        entry = {"Source": start["source"], "DetailType": start["detail-type"], "Detail": json.dumps(start["detail"])}
        bus = f"{return_model.name}-events"
        put = subprocess.run(
            [sys.executable, "-c", START, f"http://127.0.0.1:{port}", bus, json.dumps(entry)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert put.stdout.strip() == "0", put.stderr[-2000:]
        opened = '<span class="count">1</span>open now'
        overview = ""
        while opened not in overview:
            assert time.monotonic() < deadline, overview[-2000:]
            status, overview = get_page(f"{base}/{return_model.name}/?token={token}")
            assert status == 200, overview
            time.sleep(0.5)
        # Each model's page switches to the other's.
        assert f'<a href="/{order_model.name}/">{order_model.name}</a>' in overview
        status, other = get_page(f"{base}/{order_model.name}/?token={token}")
        assert status == 200, other
        assert '<span class="count">0</span>open now' in other
        assert f'<a href="/{return_model.name}/">{return_model.name}</a>' in other
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    # Stopping the console stops the models' processes: their endpoints close.
    deadline = time.monotonic() + 60
    while not all(_refuses(endpoint_port) for endpoint_port in endpoints.values()):
        assert time.monotonic() < deadline, "a model's process outlived its console"
        time.sleep(0.5)
