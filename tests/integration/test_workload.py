"""A generated workload through the local runtime, read back through the status function: every order
ends where its scenario says and no accepted event is lost, with and without injected faults."""

from __future__ import annotations

import pytest

from lambdas.choreography.model import Choreography
from local.loadrun import run
from local.runtime import LocalRuntime
from local.workload import Rates, generate


def test_the_workload_is_deterministic_under_a_seed(order_model: Choreography) -> None:
    first, again = generate(order_model, 30, seed=5), generate(order_model, 30, seed=5)
    assert [e for _, e in first.arrivals] == [e for _, e in again.arrivals]
    assert first.expected == again.expected
    assert [e for _, e in generate(order_model, 30, seed=6).arrivals] != [e for _, e in first.arrivals]


@pytest.mark.parametrize("faults", [0.0, 0.1], ids=["no faults", "10% faults"])
def test_every_order_ends_where_its_scenario_says(
    runtime: LocalRuntime, order_model: Choreography, faults: float
) -> None:
    rates = Rates(duplicates=0.15, failure=0.1, stuck=0.1, orphans=0.05, malformed=0.03, out_of_order=0.3)
    workload = generate(order_model, 50, seed=int(faults * 100) + 1, rates=rates)
    report = run(runtime, workload, faults=faults, seed=3)
    assert report["mismatches"] == {}
    assert report["lost"] == []
    assert set(report["expected"]) >= {"COMPLETED", "FAILED", "RUNNING"}
    assert report["events"]["quarantined"] >= workload.malformed
    assert report["events"]["duplicates"] > 0
    assert report["transitions"]["median"] >= len(order_model.milestones) + 1
    if faults:
        assert sum(report["faults_injected"].values()) > 0
    # Every service planted out of order is found in its status answer, and nothing else is. The listing
    # holds every one of an ended order (the end check marks what the event path could not measure) and
    # nothing invented; the metric counts each listed pair once, retries and duplicates included, and
    # never twice: a crash after the mark and before the metric's flush leaves that pair uncounted.
    deviations = report["deviations"]
    assert deviations["planted"] >= 5
    assert (deviations["missed"], deviations["invented"]) == ([], [])
    assert deviations["found"] == deviations["planted"]
    assert (deviations["listed_missed"], deviations["listed_invented"]) == ([], [])
    assert deviations["planted"] - deviations["open"] <= deviations["listed"] <= deviations["planted"]
    if faults:
        assert 0 < deviations["metric"] <= deviations["listed"], deviations
    else:
        assert deviations["metric"] == deviations["listed"], deviations
