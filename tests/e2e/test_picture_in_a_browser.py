"""What a person sees: a real order's picture opened in headless Chromium (Debian's, installed by `make
setup`), as someone opens the SVG that `cli picture` or `make demo` wrote."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from selenium import webdriver

from cli.executions import execution_definition, execution_history
from cli.picture import COLOURS, FAILED, write_picture
from lambdas.choreography.model import Choreography, Concurrent, load_model
from local.assembly import StackTemplate
from local.events import EventFactory
from local.runtime import LocalRuntime
from stacks.packaging import MODELS_DIR


def _drawn(runtime: LocalRuntime, name: str, out: Path) -> Path:
    arn = runtime.execution_arn(name)
    definition = execution_definition(runtime.stepfunctions, arn)
    return write_picture(out / f"{name}.svg", definition, execution_history(runtime.stepfunctions, arn), title=name)


def _boxes(browser: webdriver.Chrome) -> dict[str, dict[str, Any]]:
    """Each state as the browser laid it out: its box on screen, its outcome and its text."""
    script = """
        return Array.from(document.querySelectorAll('g.state')).map(g => {
            const r = g.querySelector('rect').getBoundingClientRect();
            return {name: g.dataset.state, outcome: g.dataset.outcome, fill: g.querySelector('rect').getAttribute('fill'),
                    x: r.x, y: r.y, w: r.width, h: r.height, text: g.textContent};
        });
    """
    return {box["name"]: box for box in browser.execute_script(script)}


def test_a_failed_loan_reads_in_a_browser_with_its_branches_inside_their_box(
    stacks: dict[str, StackTemplate], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    model: Choreography = load_model(MODELS_DIR / "loan_application.json")
    (group,) = [step for step in model.plan if isinstance(step, Concurrent)]
    credit, identity = (branch[0] for branch in group.branches)
    name = f"SEEN-{uuid.uuid4().hex[:8]}"
    loans = EventFactory(model)
    with LocalRuntime(stacks["LoanApplicationMonitor"]) as runtime:
        runtime.deliver(loans.event(model.start_event, name))
        assert runtime.wait_until_waiting(name, credit.name, 60)
        assert runtime.wait_until_waiting(name, identity.name, 60)
        runtime.deliver(loans.event(credit.failure[0], name))
        assert runtime.wait_for_executions([name], 60) == {name: "FAILED"}
        picture = _drawn(runtime, name, tmp_path)

    browser.get(picture.as_uri())
    assert browser.execute_script("return document.documentElement.tagName") == "svg"  # parsed, no XML error
    boxes = _boxes(browser)
    definition_states = {credit.name, identity.name, group.name, "Completed", "Failed"}
    assert definition_states <= set(boxes)
    assert all(box["w"] > 0 and box["h"] > 0 for box in boxes.values())  # every state drawn, none collapsed
    # The branches' states are drawn inside the Parallel's box, side by side.
    parallel = boxes[group.name]
    for inner in (credit.name, identity.name, f"{credit.name} failed"):
        box = boxes[inner]
        assert parallel["x"] < box["x"] < box["x"] + box["w"] < parallel["x"] + parallel["w"], inner
        assert parallel["y"] < box["y"] < box["y"] + box["h"] < parallel["y"] + parallel["h"], inner
    assert boxes[credit.name]["y"] == boxes[identity.name]["y"]
    # Red where it failed, and the branch it stopped says so.
    assert (boxes[credit.name]["outcome"], boxes[credit.name]["fill"]) == (FAILED, COLOURS[FAILED])
    assert boxes[identity.name]["outcome"] == "stopped"
    assert "stopped" in boxes[identity.name]["text"]
    screenshot = tmp_path / f"{name}.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000  # a rendered picture, not a blank page
