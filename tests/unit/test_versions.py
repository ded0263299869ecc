"""Model versions shipped together: which events they read alike, what makes a set unsafe to ship, and
classification by the version an instance started on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.choreography.model import Choreography, ModelError, parse_model
from lambdas.choreography.versions import Versions, load_versions, state_machine_name, version_of_execution
from lambdas.correlator.classify import ChoreographyEvent, Rejection, VersionedClassifier
from local.events import EventFactory
from local.model_change import ADDED_EVENT, next_version, ship
from tests.conftest import ORDER_MODEL_PATH

FIRST = json.loads(ORDER_MODEL_PATH.read_text(encoding="utf-8"))
SECOND = next_version(FIRST)


def _model(document: dict[str, Any]) -> Choreography:
    return parse_model(document, "test")


@pytest.fixture(scope="module")
def versions() -> Versions:
    return Versions(_model(SECOND), (_model(FIRST),))


def test_events_read_alike_by_every_version_need_no_read(versions: Versions) -> None:
    first, second = versions.earlier[0], versions.current
    renamed = first.milestones[2]
    before_renamed, changed_sla = first.milestones[1], first.milestones[0]
    common = versions.common_events
    assert first.start_event in common
    assert set(changed_sla.success + changed_sla.failure) <= common  # an SLA is the state machine's alone
    assert not set(renamed.success) & common  # another milestone in version 2
    assert not set(before_renamed.success) & common  # followed by another milestone: compared differently
    assert ADDED_EVENT not in common  # version 1 does not know it
    assert versions.event_names == set(first.roles) | set(second.roles)


def test_a_change_to_an_events_documentation_reads_it_alike() -> None:
    documented = copy.deepcopy(FIRST)
    documented["version"] = "1.0.1"
    event = next(iter(documented["events"].values()))
    event["schema"]["description"] = "now documented"
    event["schema"]["examples"] = [*event["schema"]["examples"], dict(event["schema"]["examples"][0])]
    versions = Versions(_model(documented), (_model(FIRST),))
    assert versions.common_events == versions.event_names


def test_an_instance_is_classified_by_the_version_it_started_on(versions: Versions) -> None:
    classifier = VersionedClassifier(versions)
    first = versions.earlier[0]
    renamed = first.milestones[2]
    event = EventFactory(first).event(renamed.success[0], "ORD-7")
    assert classifier.needs_instance_version(event)
    by_version = {}
    for version in versions.names:
        result = classifier.classify(event, version)
        assert not isinstance(result, Rejection), result
        classified, model = result
        assert isinstance(classified, ChoreographyEvent)
        assert classified.milestone is not None
        by_version[model.version] = classified.milestone.name
    assert by_version == {first.version: renamed.name, versions.current.version: f"{renamed.name}Check"}


def test_an_instance_on_a_version_no_longer_shipped_is_refused_naming_it(versions: Versions) -> None:
    event = EventFactory(versions.current).event(ADDED_EVENT, "ORD-8")
    rejection = VersionedClassifier(versions).classify(event, "0.9.0")
    assert isinstance(rejection, Rejection)
    assert rejection.field == versions.current.correlation_key
    assert "'ORD-8' started on version 0.9.0" in rejection.reason
    assert "it ships 1.0.0, 2.0.0" in rejection.reason


def test_common_and_malformed_events_need_no_read(versions: Versions) -> None:
    classifier = VersionedClassifier(versions)
    start = EventFactory(versions.current).event(versions.current.start_event, "ORD-9")
    assert not classifier.needs_instance_version(start)
    assert not classifier.needs_instance_version({**start, "detail-type": ["a", "list"]})
    assert not classifier.needs_instance_version({**start, "detail-type": "NoSuchEvent"})
    assert not classifier.needs_instance_version("not an event")


def test_an_executions_arn_names_its_version(versions: Versions) -> None:
    for model in versions.all:
        arn = f"arn:aws:states:eu-west-1:111122223333:execution:{state_machine_name(model)}:ORD-1"
        assert version_of_execution(arn, model.name) == model.version
    assert version_of_execution("arn:aws:states:eu-west-1:1:execution:other-1.0.0:ORD-1", FIRST["name"]) is None


def _refusal(tmp_path: Path, current: dict[str, Any], *earlier: dict[str, Any], kept_as: str = "") -> ModelError:
    path = ship(tmp_path, "order.json", current, *earlier)
    if kept_as:
        (path.with_suffix("") / f"{earlier[0]['version']}.json").rename(path.with_suffix("") / kept_as)
    with pytest.raises(ModelError) as refused:
        load_versions(path)
    return refused.value


def test_shipping_versions_that_could_not_be_matched_is_refused_naming_the_version(tmp_path: Path) -> None:
    # Every event names its order by another field now: events of orders open on 1.0.0 do not have it.
    rekeyed = json.loads(json.dumps(SECOND).replace('"orderId"', '"orderNumber"'))
    rekeyed["correlationKey"] = "detail.orderNumber"
    refused = _refusal(tmp_path, rekeyed, FIRST)
    assert (refused.field, refused.source) == ("correlationKey", str(tmp_path / "order.json"))
    assert "in version 1.0.0" in refused.message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda current, earlier: current.update(version="0.9.0"), "version", "must be higher"),
        (lambda current, earlier: earlier.update(name="other"), "name", "'other' differs"),
        (lambda current, earlier: current["stuck"].update(event="Overdue"), "stuck", "version 1.0.0"),
    ],
    ids=["not higher", "another model", "another stuck event"],
)
def test_versions_that_cannot_ship_together_are_refused(tmp_path: Path, change: Any, field: str, words: str) -> None:
    current, earlier = copy.deepcopy(SECOND), copy.deepcopy(FIRST)
    change(current, earlier)
    refused = _refusal(tmp_path, current, earlier)
    assert refused.field == field
    assert words in refused.message


def test_an_earlier_version_kept_under_another_name_is_refused(tmp_path: Path) -> None:
    refused = _refusal(tmp_path, SECOND, FIRST, kept_as="1.0.json")
    assert (refused.field, Path(refused.source).name) == ("version", "1.0.json")
    assert "name it 1.0.0.json" in refused.message


def test_shipped_versions_load_oldest_first(tmp_path: Path) -> None:
    middle = {**copy.deepcopy(FIRST), "version": "1.10.0"}
    versions = load_versions(ship(tmp_path, "order.json", SECOND, middle, FIRST))
    assert versions.names == ("1.0.0", "1.10.0", "2.0.0")
