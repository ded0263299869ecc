"""Model mistakes stop the commands early, naming the file and the field, without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main as bench_main
from cli.__main__ import main as cli_main
from local.demo import main as demo_main
from local.serve import main as serve_main
from tests.conftest import ORDER_MODEL_PATH, RETURN_MODEL_PATH


def _broken_order_model(tmp_path: Path) -> Path:
    document = json.loads(ORDER_MODEL_PATH.read_text())
    document["events"]["OrderPackaged"]["schema"]["required"] = ["packageId"]
    del document["events"]["OrderDelivered"]["schema"]["examples"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    return path


def test_validate_prints_one_line_per_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = _broken_order_model(tmp_path)

    code = cli_main(["validate", str(broken), str(RETURN_MODEL_PATH)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == [
        f"{broken}: events.OrderPackaged.schema.required: must list 'orderId': every event carries the "
        "correlation key detail.orderId",
        f"{broken}: events.OrderDelivered.schema.examples: needs at least one example event (the docs and the "
        "workload use it)",
        f"{RETURN_MODEL_PATH}: valid",
    ]
    assert "Traceback" not in err


def test_validate_passes_the_shipped_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["validate"]) == 0
    assert capsys.readouterr().out.count(": valid") == len(list(ORDER_MODEL_PATH.parent.glob("*.json")))


@pytest.mark.parametrize("command", [demo_main, serve_main], ids=["demo", "serve"])
def test_an_unknown_model_name_lists_the_models_there_are(command, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        command(["--model", "loan_application"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "no model is named 'loan_application'" in err
    assert "loan-application, order-fulfillment, return-refund" in err


def test_the_bench_refuses_an_unknown_model_before_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        bench_main(["--model", "loan_application"])
    assert "there are: loan-application, order-fulfillment, return-refund" in str(stopped.value.code)
