"""The picture of one execution: each state's outcome from the history, and an SVG that shows it."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from cli.picture import (
    AWAITING,
    CAUGHT,
    COLOURS,
    DONE,
    FAILED,
    NOT_REACHED,
    STOPPED,
    StateOutcome,
    every_state,
    render_svg,
    state_outcomes,
    write_picture,
)
from lambdas.choreography.model import Choreography, Concurrent, Milestone, load_model
from stacks.asl import (
    COMPLETED_STATE,
    CONDITION_FAILED,
    FAILED_STATE,
    FAILURE_ERROR,
    arrived_early_state,
    build_definition,
    failed_state,
    stuck_state,
)
from stacks.packaging import MODELS_DIR

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class History:
    """Step Functions history events as GetExecutionHistory returns them; each a quarter of a second after the last."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.states = definition["States"]
        self.events: list[dict[str, Any]] = []
        self.now = START
        self.add("ExecutionStarted", executionStartedEventDetails={"input": "{}"})

    def add(self, kind: str, *, after: float = 0.25, **details: Any) -> datetime:
        self.now += timedelta(seconds=after)
        event = {"id": len(self.events) + 1, "previousEventId": len(self.events), "type": kind, "timestamp": self.now}
        self.events.append(event | details)
        return self.now

    def enter(self, name: str) -> datetime:
        kind = f"{self.states[name]['Type']}StateEntered"
        return self.add(kind, stateEnteredEventDetails={"name": name, "input": "{}"})

    def leave(self, name: str, *, after: float) -> datetime:
        kind = f"{self.states[name]['Type']}StateExited"
        return self.add(kind, after=after, stateExitedEventDetails={"name": name, "output": "{}"})

    def task_failed(self, error: str, *, after: float = 0.25) -> None:
        details = {"resourceType": "aws-sdk:dynamodb", "resource": "updateItem", "error": error, "cause": "..."}
        self.add("TaskFailed", after=after, taskFailedEventDetails=details)

    def passes(self, name: str, took: float = 0.5) -> datetime:
        entered = self.enter(name)
        self.add("TaskSucceeded", after=took, taskSucceededEventDetails={"output": "{}"})
        self.leave(name, after=0)
        return entered

    def catches(self, name: str, error: str, took: float = 0.5) -> datetime:
        entered = self.enter(name)
        self.task_failed(error, after=took)
        self.leave(name, after=0)
        return entered

    def awaits(self, name: str) -> datetime:
        entered = self.enter(name)
        for kind in ("TaskScheduled", "TaskStarted", "TaskSubmitted"):
            self.add(kind)
        return entered


@pytest.fixture
def definition(order_model: Choreography) -> dict[str, Any]:
    return build_definition(order_model)


def _first_that_can_fail(model: Choreography) -> Milestone:
    return next(milestone for milestone in model.milestones if milestone.failure)


def _state_groups(svg: str) -> dict[str, ET.Element]:
    groups = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "state"]
    names = Counter(g.get("data-state") for g in groups)
    assert all(count == 1 for count in names.values()), names
    return {str(g.get("data-state")): g for g in groups}


def _box(group: ET.Element) -> tuple[float, float, float, float]:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    x, y, w, h = (float(rect.get(key, "nan")) for key in ("x", "y", "width", "height"))
    return x, y, w, h


def _texts(group: ET.Element) -> list[str]:
    return [text.text or "" for text in group.iter(f"{SVG}text")]


def test_a_completed_execution_has_every_milestone_done_and_no_side_state(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    history = History(definition)
    entered = {m.name: history.passes(m.name, took=2.1) for m in order_model.milestones}
    entered[COMPLETED_STATE] = history.passes(COMPLETED_STATE)
    history.add("ExecutionSucceeded")

    found = state_outcomes(definition, history.events)

    assert set(found) == set(definition["States"])
    assert {name for name, state in found.items() if state.outcome == DONE} == set(entered)
    assert {name for name, state in found.items() if state.outcome == NOT_REACHED} == set(found) - set(entered)
    first = found[order_model.milestones[0].name]
    assert (first.entered, first.entries, first.error) == (entered[first.name], 1, None)
    assert first.exited is not None
    assert first.entered is not None
    assert (first.exited - first.entered).total_seconds() == pytest.approx(2.1)
    assert found[FAILED_STATE] == StateOutcome(FAILED_STATE, NOT_REACHED, None, None, 0, None)

    group = _state_groups(render_svg(definition, history.events, title="t"))[first.name]
    # The first state is entered half a second after START (03:04:05 UTC): after the start event, then itself.
    assert _texts(group) == [first.name, "03:04:05.500 UTC", "2.1 s"]


def test_a_running_execution_awaits_its_third_milestone(order_model: Choreography, definition: dict[str, Any]) -> None:
    first, second, third, *later = order_model.milestones
    history = History(definition)
    history.passes(first.name)
    history.passes(second.name)
    since = history.awaits(third.name)

    found = state_outcomes(definition, history.events)

    assert [found[m.name].outcome for m in (first, second, third)] == [DONE, DONE, AWAITING]
    assert (found[third.name].entered, found[third.name].exited) == (since, None)
    assert {found[m.name].outcome for m in later} == {NOT_REACHED}
    assert found[COMPLETED_STATE].outcome == NOT_REACHED
    group = _state_groups(render_svg(definition, history.events, title="t"))[third.name]
    assert group.get("data-outcome") == AWAITING
    assert _texts(group)[-1] == "waiting"


def test_an_awaited_state_fails_when_the_execution_ends_under_it(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    milestone = order_model.milestones[0]
    history = History(definition)
    history.awaits(milestone.name)
    history.add("ExecutionTimedOut", executionTimedOutEventDetails={"error": "States.Timeout"})

    found = state_outcomes(definition, history.events)[milestone.name]

    assert (found.outcome, found.exited, found.error) == (FAILED, None, "States.Timeout")


def test_an_event_that_fails_the_milestone_before_the_execution_gets_there(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    milestone = _first_that_can_fail(order_model)
    position = order_model.milestones.index(milestone)
    history = History(definition)
    for earlier in order_model.milestones[:position]:
        history.passes(earlier.name)
    history.catches(milestone.name, CONDITION_FAILED)  # the event was recorded first: no token is written
    history.catches(arrived_early_state(milestone), CONDITION_FAILED)  # and it was not a success
    history.passes(failed_state(milestone))
    history.enter(FAILED_STATE)
    history.add("ExecutionFailed", executionFailedEventDetails={"error": FAILURE_ERROR, "cause": milestone.name})

    found = state_outcomes(definition, history.events)

    assert {found[m.name].outcome for m in order_model.milestones[:position]} <= {DONE}
    assert (found[milestone.name].outcome, found[milestone.name].error) == (CAUGHT, CONDITION_FAILED)
    early = found[arrived_early_state(milestone)]
    assert (early.outcome, early.error) == (FAILED, CONDITION_FAILED)  # red where it failed
    assert found[failed_state(milestone)].outcome == DONE
    assert (found[FAILED_STATE].outcome, found[FAILED_STATE].error) == (FAILED, FAILURE_ERROR)
    assert {found[m.name].outcome for m in order_model.milestones[position + 1 :]} == {NOT_REACHED}
    assert found[COMPLETED_STATE].outcome == NOT_REACHED
    groups = _state_groups(render_svg(definition, history.events, title="t"))
    assert _texts(groups[milestone.name])[-1] == "arrived early"  # not DynamoDB's name for it
    assert _texts(groups[arrived_early_state(milestone)])[-1] == "condition not met"  # the check's: no success
    assert _texts(groups[FAILED_STATE])[-1] == FAILURE_ERROR


def test_a_fail_state_is_failed_even_before_the_execution_failed_event(definition: dict[str, Any]) -> None:
    history = History(definition)
    history.enter(FAILED_STATE)  # a history read between FailStateEntered and ExecutionFailed

    assert state_outcomes(definition, history.events)[FAILED_STATE].outcome == FAILED


def test_a_failure_event_on_time_is_caught_with_its_own_name(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    milestone = _first_that_can_fail(order_model)
    history = History(definition)
    for earlier in order_model.milestones[: order_model.milestones.index(milestone)]:
        history.passes(earlier.name)
    history.catches(milestone.name, milestone.failure[0])
    history.passes(failed_state(milestone))
    history.enter(FAILED_STATE)
    history.add("ExecutionFailed", executionFailedEventDetails={"error": FAILURE_ERROR})

    found = state_outcomes(definition, history.events)

    assert (found[milestone.name].outcome, found[milestone.name].error) == (CAUGHT, milestone.failure[0])
    assert found[arrived_early_state(milestone)].outcome == NOT_REACHED


def test_a_retry_that_succeeds_leaves_the_state_done(order_model: Choreography, definition: dict[str, Any]) -> None:
    name = order_model.milestones[0].name
    history = History(definition)
    history.enter(name)
    history.task_failed("DynamoDb.ThrottlingException")
    history.add("TaskSucceeded")
    history.leave(name, after=0.25)

    found = state_outcomes(definition, history.events)[name]

    assert (found.outcome, found.error) == (DONE, None)


def test_a_state_entered_twice_shows_its_count_and_its_last_outcome(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    first, second = order_model.milestones[:2]
    looped = copy.deepcopy(definition)
    looped["States"][second.name]["Next"] = first.name  # a loop back to the first milestone
    history = History(looped)
    history.passes(first.name)
    history.passes(second.name)
    again = history.catches(first.name, CONDITION_FAILED)

    found = state_outcomes(looped, history.events)

    assert (found[first.name].outcome, found[first.name].entries, found[first.name].entered) == (CAUGHT, 2, again)
    assert (found[second.name].outcome, found[second.name].entries) == (DONE, 1)
    groups = _state_groups(render_svg(looped, history.events, title="loop"))
    assert _texts(groups[first.name])[0] == f"{first.name} \N{MULTIPLICATION SIGN}2"
    assert groups[first.name].get("data-outcome") == CAUGHT
    # The loop does not break the ranking: the first milestone stays above the second.
    assert _box(groups[first.name])[1] < _box(groups[second.name])[1]


def test_string_timestamps_read_like_datetimes(order_model: Choreography, definition: dict[str, Any]) -> None:
    history = History(definition)
    for milestone in order_model.milestones[:2]:
        history.passes(milestone.name, took=3)
    history.awaits(order_model.milestones[2].name)
    dumped = json.loads(json.dumps(history.events, default=str))  # "2026-01-02 03:04:05.500000+00:00"
    plus_two = timezone(timedelta(hours=2))
    iso = [event | {"timestamp": event["timestamp"].astimezone(plus_two).isoformat()} for event in history.events]

    expected = state_outcomes(definition, history.events)

    assert isinstance(dumped[1]["timestamp"], str)
    assert state_outcomes(definition, dumped) == expected
    assert state_outcomes(definition, iso) == expected
    group = _state_groups(render_svg(definition, iso, title="t"))[order_model.milestones[0].name]
    assert _texts(group)[1:] == ["03:04:05.500 UTC", "3.0 s"]  # shown in UTC whatever the offset


def _timed_out(history: History, milestone: Milestone) -> None:
    history.enter(milestone.name)
    history.add("TaskTimedOut", after=milestone.sla_seconds, taskTimedOutEventDetails={"error": "States.Timeout"})
    history.leave(milestone.name, after=0)
    history.passes(failed_state(milestone))
    history.enter(FAILED_STATE)
    history.add("ExecutionFailed", executionFailedEventDetails={"error": FAILURE_ERROR})


def test_a_timeout_is_caught(order_model: Choreography, definition: dict[str, Any]) -> None:
    milestone = order_model.milestones[0]
    history = History(definition)
    _timed_out(history, milestone)

    found = state_outcomes(definition, history.events)

    assert (found[milestone.name].outcome, found[milestone.name].error) == (CAUGHT, "States.Timeout")
    assert [found[failed_state(milestone)].outcome, found[FAILED_STATE].outcome] == [DONE, FAILED]


@pytest.mark.parametrize(
    ("scenario", "outcomes"),
    [
        ("completed", {DONE, NOT_REACHED}),
        ("running", {DONE, AWAITING, NOT_REACHED}),
        ("failed", {DONE, CAUGHT, FAILED, NOT_REACHED}),
    ],
)
def test_the_svg_shows_every_state_once_in_its_outcome_colour(
    order_model: Choreography, definition: dict[str, Any], scenario: str, outcomes: set[str]
) -> None:
    history = History(definition)
    milestones = order_model.milestones
    for milestone in milestones if scenario == "completed" else milestones[:2]:
        history.passes(milestone.name)
    if scenario == "completed":
        history.passes(COMPLETED_STATE)
        history.add("ExecutionSucceeded")
    elif scenario == "running":
        history.awaits(milestones[2].name)
    else:
        _timed_out(history, milestones[2])
    title = f'<{scenario}> & "quotes"'

    svg = render_svg(definition, history.events, title=title)
    root = ET.fromstring(svg)
    groups = _state_groups(svg)
    found = state_outcomes(definition, history.events)

    assert root.findtext(f"{SVG}text") == title
    assert sorted(groups) == sorted(definition["States"])
    for name, group in groups.items():
        rect = group.find(f"{SVG}rect")
        assert rect is not None
        assert group.get("data-outcome") == found[name].outcome
        assert rect.get("fill") == COLOURS[found[name].outcome]
    assert {group.get("data-outcome") for group in groups.values()} == outcomes
    # Legible: no two states overlap, all inside the picture.
    boxes = [_box(group) for group in groups.values()]
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    for i, (x, y, w, h) in enumerate(boxes):
        assert 0 <= x < x + w <= width
        assert 0 <= y < y + h <= height
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_edges_go_from_a_state_bottom_to_the_next_state_top(
    order_model: Choreography, definition: dict[str, Any]
) -> None:
    svg = render_svg(definition, [], title="t")
    boxes = {name: _box(group) for name, group in _state_groups(svg).items()}

    def state_at(point: str, *, bottom: bool) -> str | None:
        px, py = (float(n) for n in point.split(","))
        return next(
            (
                name
                for name, (x, y, w, h) in boxes.items()
                if abs(x + w / 2 - px) < 0.2 and abs(y + (h if bottom else 0) - py) < 0.2
            ),
            None,
        )

    edges, dashed = set(), set()
    loops = terminal = 0
    for path in ET.fromstring(svg).iter(f"{SVG}path"):
        if path.get("marker-end") is None:
            continue
        if path.get("class") == "terminal-edge":  # to or from the console's Start and End
            terminal += 1
            continue
        points = path.get("d", "").replace("M", " ").replace("C", " ").replace("L", " ").split()
        source, target = state_at(points[0], bottom=True), state_at(points[-1], bottom=False)
        if source is None or target is None:  # a back edge, drawn round the side
            loops += 1
            continue
        edges.add((source, target))
        if path.get("stroke-dasharray"):
            dashed.add((source, target))

    names = [m.name for m in order_model.milestones] + [COMPLETED_STATE]
    assert set(pairwise(names)) <= edges - dashed
    assert loops == len(order_model.milestones)  # "Wait again" routes back to each milestone's wait
    assert terminal == 1 + 2  # Start to the first milestone; Completed and Failed to End
    assert {g.get("data-node") for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "terminal"} == {
        "Start",
        "End",
    }
    for milestone in order_model.milestones:
        assert (milestone.name, stuck_state(milestone)) in dashed  # the SLA's timeout, a Catch
        if milestone.failure:
            assert (milestone.name, failed_state(milestone)) in dashed
        assert (failed_state(milestone), FAILED_STATE) in edges - dashed


def test_an_unreachable_state_with_an_awkward_name_goes_last(definition: dict[str, Any]) -> None:
    odd = 'Orphan "<&>"'
    with_orphan = copy.deepcopy(definition)
    with_orphan["States"][odd] = {"Type": "Pass", "Next": COMPLETED_STATE}

    groups = _state_groups(render_svg(with_orphan, [], title="t"))

    assert groups[odd].get("data-outcome") == NOT_REACHED
    assert _texts(groups[odd]) == [odd]
    assert all(_box(groups[odd])[1] > _box(group)[1] for name, group in groups.items() if name != odd)


def test_write_picture_creates_the_folders(definition: dict[str, Any], tmp_path: Path) -> None:
    history = History(definition)
    history.awaits(definition["StartAt"])
    target = tmp_path / "pictures" / "order" / "S-1.svg"

    written = write_picture(target, definition, history.events, title="S-1")

    assert written == target
    assert target.read_text(encoding="utf-8") == render_svg(definition, history.events, title="S-1")
    assert _state_groups(target.read_text(encoding="utf-8"))[definition["StartAt"]].get("data-outcome") == AWAITING


def test_a_parallel_state_is_a_box_round_its_branches_and_a_stopped_branch_says_so() -> None:
    model = load_model(MODELS_DIR / "loan_application.json")
    definition = build_definition(model)
    (group,) = [step for step in model.plan if isinstance(step, Concurrent)]
    credit, identity = (branch[0] for branch in group.branches)
    events: list[dict[str, Any]] = []

    def add(kind: str, previous: int, **details: Any) -> int:
        events.append({"id": len(events) + 1, "previousEventId": previous, "type": kind} | details)
        events[-1]["timestamp"] = START + timedelta(seconds=len(events))
        return len(events)

    def entered(kind: str, name: str, previous: int) -> int:
        return add(f"{kind}StateEntered", previous, stateEnteredEventDetails={"name": name, "input": "{}"})

    add("ExecutionStarted", 0, executionStartedEventDetails={"input": "{}"})
    started = add("ParallelStateStarted", entered("Parallel", group.name, 1))
    # The branches run at once: their events interleave, each chained to its own state.
    credit_wait, identity_wait = entered("Task", credit.name, started), entered("Task", identity.name, started)
    identity_started = add("TaskStarted", identity_wait)
    failed = add("TaskFailed", add("TaskStarted", credit_wait), taskFailedEventDetails={"error": credit.failure[0]})
    add("TaskSubmitted", identity_started)  # the other branch's wait, still under way
    exited = add("TaskStateExited", failed, stateExitedEventDetails={"name": credit.name, "output": "{}"})
    branch_failed = entered("Fail", f"{credit.name} failed", exited)
    parallel_failed = add("ParallelStateFailed", branch_failed)
    left = add("ParallelStateExited", parallel_failed, stateExitedEventDetails={"name": group.name, "output": "{}"})
    record = entered("Task", "Record failure", left)
    add("TaskSucceeded", record, taskSucceededEventDetails={"output": "{}"})
    done = add("TaskStateExited", len(events), stateExitedEventDetails={"name": "Record failure", "output": "{}"})
    add("ExecutionFailed", entered("Fail", "Failed", done), executionFailedEventDetails={"cause": credit.name})

    found = state_outcomes(definition, events)
    svg = render_svg(definition, events, title="t")
    groups = _state_groups(svg)

    assert found[identity.name].outcome == STOPPED  # stopped by the other branch's failure, not failed
    assert _texts(groups[identity.name])[-1] == "stopped"
    assert (found[credit.name].outcome, found[credit.name].error) == (FAILED, credit.failure[0])  # red, where
    assert found[f"{credit.name} failed"].outcome == FAILED
    assert found[group.name].error == "ParallelStateFailed"  # the Parallel's own event, not a branch state's
    assert sorted(groups) == sorted(every_state(definition))
    gx, gy, gw, gh = _box(groups[group.name])
    for branch in definition["States"][group.name]["Branches"]:
        for name in branch["States"]:  # each drawn inside the box
            x, y, w, h = _box(groups[name])
            assert gx < x < x + w < gx + gw, name
            assert gy < y < y + h < gy + gh, name
