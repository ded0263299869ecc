"""`make demo`'s program, run as the Makefile runs it, in a process of its own (its runtime is its own)."""

from __future__ import annotations

import subprocess
import sys

from lambdas.choreography.model import Choreography
from stacks.packaging import PROJECT_ROOT


def test_demo_prints_the_machine_and_settles_every_scenario(return_model: Choreography) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", "--model", return_model.name],
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
    assert " > ".join([*names, "Completed"]) in rows["DEMO-1"]
    assert '"status": "COMPLETED"' in out
