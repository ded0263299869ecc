"""`make demo`'s program, run as the Makefile runs it, in a process of its own (its runtime is its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lambdas.choreography.model import Choreography
from stacks.asl import COMPLETED_STATE
from stacks.packaging import PROJECT_ROOT


def test_demo_prints_the_machine_and_settles_every_scenario(return_model: Choreography, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.demo",
            "--model",
            return_model.name,
            "--orders",
            "20",
            "--seed",
            "4",
            "--json",
            str(report_path),
            "--out",
            str(tmp_path / "pictures"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    names = [milestone.name for milestone in return_model.milestones]
    assert f"StartAt: {names[0]}" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("DEMO-")}
    assert len(rows) == 5
    assert all(" SUCCEEDED " in rows[f"DEMO-{n}"] for n in (1, 2, 3))
    assert all(" FAILED " in rows[f"DEMO-{n}"] for n in (4, 5))
    assert " > ".join([*names, COMPLETED_STATE]) in rows["DEMO-1"]
    assert '"status": "COMPLETED"' in out
    # Stuck orders: listed, announced on the bus, then one completes late and one times out.
    assert f"{return_model.stuck_event} events the alerts topic received:" in out
    assert "STUCK-LATE: SUCCEEDED, STUCK-NEVER: FAILED" in out
    stuck_rows = [line.split() for line in out.splitlines() if line.strip().startswith(("STUCK-LATE ", "STUCK-NEVER "))]
    assert any(row[1] == "STUCK" for row in stuck_rows)
    pictures = sorted((tmp_path / "pictures" / return_model.name).glob("*.svg"))
    assert {p.stem for p in pictures} >= {f"DEMO-{n}" for n in range(1, 6)} | {"STUCK-LATE", "STUCK-NEVER"}
    assert len(pictures) > 7  # and one per final state the workload reached
    assert all(str(p) in out for p in pictures)
    report = json.loads(report_path.read_text())
    for key in (
        "orders",
        "expected",
        "actual",
        "mismatches",
        "events",
        "lost",
        "transitions",
        "aws_calls_per_event",
        "elapsed_s",
        "orders_per_s",
    ):
        assert key in report, key
    assert report["orders"] == 20
    assert report["mismatches"] == {}
    assert report["lost"] == []
    assert set(report["events"]) >= {"published", "accepted", "duplicates", "quarantined"}
