"""The command line against the local runtime's status URL: signed requests, tables, JSON and pictures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.credentials import Credentials

from cli.__main__ import main
from cli.client import StatusClient, StatusError
from cli.picture import CAUGHT, COLOURS, DONE, FAILED, NOT_REACHED
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.gateway import serve_status
from local.runtime import LOCAL_ENVIRONMENT, LocalRuntime
from stacks.asl import COMPLETED_STATE, FAILED_STATE, arrived_early_state, failed_state


@pytest.fixture(scope="module")
def status_url(runtime: LocalRuntime) -> Iterator[str]:
    with serve_status(runtime) as url:
        yield url


@pytest.fixture(autouse=True)
def local_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign as a shell pointed at the local runtime does (moto's mock swaps in credentials of its own)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, LOCAL_ENVIRONMENT[name])


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _fail_early(runtime: LocalRuntime, events: EventFactory, order_id: str, milestone: str) -> None:
    for event in reversed(events.lifecycle(order_id, failure_at=milestone)):
        runtime.deliver(event)
    assert runtime.wait_for_executions([order_id]) == {order_id: "FAILED"}


def test_status_prints_a_table_and_json(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str, status_url: str, capsys
) -> None:
    lifecycle = events.lifecycle(order_id)
    runtime.deliver(lifecycle[0])
    runtime.deliver(lifecycle[1])
    code, out, _ = _cli(capsys, "--url", status_url, "status", order_id)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{order_id}: RUNNING")
    rows = {line.split()[0]: line.split()[1] for line in lines[lines.index("") + 2 :]}
    assert list(rows) == [m.name for m in order_model.milestones]
    assert rows[order_model.milestones[0].name] == "done"
    code, out, _ = _cli(capsys, "--url", status_url, "--json", "status", order_id)
    assert json.loads(out)["orderId"] == order_id


def test_list_pages_through_failed_orders(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, status_url: str, capsys
) -> None:
    milestone = next(m.name for m in order_model.milestones if m.failure)
    orders = [f"CLI-FAIL-{n}-{id(capsys)}" for n in range(3)]
    for order_id in orders:
        _fail_early(runtime, events, order_id, milestone)
    seen: list[str] = []
    listing = ["--url", status_url, "--json", "list", "--status", "FAILED", "--milestone", milestone, "--limit", "2"]
    token: list[str] = []
    for _ in range(50):
        code, out, _ = _cli(capsys, *listing, *token)
        assert code == 0
        page = json.loads(out)
        seen += [o["orderId"] for o in page["orders"]]
        if "next" not in page:
            break
        token = ["--next", page["next"]]
    assert set(orders) <= set(seen)
    code, out, _ = _cli(capsys, "--url", status_url, "list", "--status", "FAILED", "--milestone", milestone)
    assert out.splitlines()[0].startswith(f"{order_model.name}: ")
    assert orders[-1] in out


def test_deviations_lists_an_order_whose_services_acted_out_of_order(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str, status_url: str, capsys
) -> None:
    first, second = order_model.milestones[:2]
    lifecycle = events.lifecycle(order_id)
    events.stamp(lifecycle[1], "2026-03-01T10:20:00+00:00")  # the first milestone's, after the second's
    events.stamp(lifecycle[2], "2026-03-01T10:05:00+00:00")
    for event in lifecycle:
        runtime.deliver(event)
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    code, out, _ = _cli(capsys, "--url", status_url, "deviations")
    assert code == 0
    assert out.splitlines()[0].startswith(f"{order_model.name}: ")
    (row,) = [line for line in out.splitlines() if line.startswith(order_id)]
    assert f"{second.name} before {first.name}" in row
    code, out, _ = _cli(capsys, "--url", status_url, "--json", "deviations", "--limit", "100")
    (listed,) = [o for o in json.loads(out)["orders"] if o["orderId"] == order_id]
    assert listed["outOfOrder"] == [{"milestone": second.name, "follows": first.name, "earlyBySeconds": 900.0}]


def test_requests_without_a_valid_signature_are_forbidden(
    status_url: str, order_id: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(f"{status_url}orders/{order_id}", timeout=10)
    assert unsigned.value.code == 403
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    code, _, err = _cli(capsys, "--url", status_url, "status", order_id)
    assert code == 1
    assert "HTTP 403" in err
    # Which credentials signed, what the caller needs, and where to get it.
    assert f"access key {LOCAL_ENVIRONMENT['AWS_ACCESS_KEY_ID']} (env)" in err
    assert "lambda:InvokeFunctionUrl and lambda:InvokeFunction" in err
    assert "StatusReadersPolicyArn" in err
    assert "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local" in err


@pytest.mark.parametrize("order_id", ["ORD-a+b", "ORD-x@y=z", "ORD-M\u00fcller", "ORD-\u6ce8\u6587-7"])
def test_ids_a_url_must_encode_round_trip(
    runtime: LocalRuntime, events: EventFactory, status_url: str, order_id: str, capsys
) -> None:
    """A Function URL hands rawPath over percent-encoded: the status function decodes it before it checks it."""
    runtime.deliver(events.lifecycle(order_id)[0])
    code, out, err = _cli(capsys, "--url", status_url, "--json", "status", order_id)
    assert code == 0, err
    assert json.loads(out)["orderId"] == order_id


def test_a_path_that_is_not_utf_8_is_a_bad_request(status_url: str) -> None:
    client = StatusClient(status_url, Credentials("local", "local"), "us-east-1")
    with pytest.raises(StatusError) as refused:
        client.get("orders/ORD-%FF")  # a byte that starts no UTF-8 character
    assert refused.value.status == 400
    assert str(refused.value).startswith("HTTP 400: orderId 'ORD-%FF' is not percent-encoded UTF-8")


def test_an_unknown_order_is_reported_not_found(status_url: str, order_id: str, capsys) -> None:
    code, _, err = _cli(capsys, "--url", status_url, "status", order_id)
    assert code == 1
    assert "HTTP 404" in err


def test_picture_of_an_order_that_failed_on_an_early_event(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, status_url: str, capsys, tmp_path: Path
) -> None:
    position, milestone = next((i, m) for i, m in enumerate(order_model.milestones) if m.failure)
    order_id = f"CLI-PICTURE-{id(tmp_path)}"
    _fail_early(runtime, events, order_id, milestone.name)
    code, out, _ = _cli(capsys, "--url", status_url, "picture", order_id, "--out", str(tmp_path))
    assert code == 0
    svg = ET.parse(Path(out.strip())).getroot()
    fills = {
        group.get("data-state"): rect.get("fill")
        for group in svg.iter("{http://www.w3.org/2000/svg}g")
        if group.get("class") == "state"
        for rect in group.iter("{http://www.w3.org/2000/svg}rect")
    }
    expected = dict.fromkeys(runtime.definition["States"], COLOURS[NOT_REACHED])
    for earlier in order_model.milestones[:position]:
        expected[earlier.name] = COLOURS[CAUGHT]  # every event arrived before its milestone
        if earlier.failure:
            expected[arrived_early_state(earlier)] = COLOURS[DONE]
    expected[milestone.name] = COLOURS[CAUGHT]
    expected[arrived_early_state(milestone)] = COLOURS[FAILED]  # the early event was a failure: red there
    expected[failed_state(milestone)] = COLOURS[DONE]
    expected[FAILED_STATE] = COLOURS[FAILED]
    assert fills == expected
    assert fills[COMPLETED_STATE] == COLOURS[NOT_REACHED]
