"""The deployed functions validate exactly as the local runtime does: one pinned list of packages for the
Lambda layer and for this environment, and the layer alone enforces every format the models use."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from stacks.packaging import MODELS_DIR, PROJECT_ROOT, REQUIREMENTS, dependencies_layer_directory

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)$")


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[metadata.Distribution.from_name(match["name"]).name.lower().replace("_", "-")] = match["version"]
    return pins


def _layer_distributions(layer: Path) -> dict[str, str]:
    found = {}
    for info in (layer / "python").glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[name.lower().replace("_", "-")] = version
    return found


@pytest.fixture(scope="module")
def layer(assembly_dir: Path) -> Path:
    return dependencies_layer_directory()  # built by the session's synthesis


def test_the_layer_and_this_environment_hold_the_same_pinned_packages(layer: Path) -> None:
    pins = _pins()
    assert "rfc3339-validator" in pins  # date-time is checked only with it
    assert _layer_distributions(layer) == pins
    installed = {name: metadata.version(name) for name in pins}
    assert installed == pins


def _run_with_layer_only(layer: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Python without this environment's site-packages: only the layer and the project's own code. The
    layer's one compiled wheel (rpds-py, arm64) is taken from here: it has no part in format checking."""
    host_rpds = Path(str(__import__("rpds").__file__)).parent
    prelude = textwrap.dedent(
        f"""
        import sys, types, importlib.util
        sys.path[:0] = [{str(PROJECT_ROOT)!r}, {str(layer / "python")!r}]
        spec = importlib.util.spec_from_file_location("rpds", {str(host_rpds / "__init__.py")!r},
                                                      submodule_search_locations=[{str(host_rpds)!r}])
        rpds = importlib.util.module_from_spec(spec); sys.modules["rpds"] = rpds; spec.loader.exec_module(rpds)
        """
    )
    return subprocess.run(
        [sys.executable, "-S", "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=PROJECT_ROOT,
    )


CLASSIFY_BAD_FORMATS = """
    import copy, json, pathlib, jsonschema, rfc3339_validator
    from lambdas.choreography.model import load_model
    from lambdas.correlator.classify import EventClassifier, Rejection, formats_used
    from local.events import EventFactory
    assert pathlib.Path(jsonschema.__file__).is_relative_to(sys.path[1]), jsonschema.__file__
    assert pathlib.Path(rfc3339_validator.__file__).is_relative_to(sys.path[1]), rfc3339_validator.__file__
    results = []
    for path in sorted(pathlib.Path("choreographies").glob("*.json")):
        model = load_model(path)
        classifier, factory = EventClassifier(model), EventFactory(model)
        for name, event in model.events.items():
            for field, spec in event.schema.get("properties", {}).items():
                if "format" in spec:
                    raw = factory.event(name, "ID-1")
                    raw["detail"][field] = "2026-13-45 not a time"
                    result = classifier.classify(raw)
                    results.append([model.name, name, field, spec["format"], isinstance(result, Rejection)])
    print(json.dumps(results))
"""


def test_the_layer_alone_rejects_a_value_of_the_wrong_format(layer: Path) -> None:
    result = _run_with_layer_only(layer, CLASSIFY_BAD_FORMATS)
    assert result.returncode == 0, result.stderr[-3000:]
    checked = json.loads(result.stdout)
    assert checked, "no model uses a format: this check covers nothing"
    assert [row for row in checked if not row[-1]] == []
    assert {row[3] for row in checked} >= {"date-time"}
    assert len(checked) == sum(
        1
        for path in MODELS_DIR.glob("*.json")
        for event in json.loads(path.read_text())["events"].values()
        for spec in event["schema"].get("properties", {}).values()
        if "format" in spec
    )


def test_without_the_format_package_the_classifier_refuses_to_start(layer: Path) -> None:
    script = """
        sys.modules["rfc3339_validator"] = None  # as in a layer built without it
        from lambdas.choreography.model import load_model
        from lambdas.correlator.classify import EventClassifier, UncheckedFormat
        try:
            EventClassifier(load_model("choreographies/order_fulfillment.json"))
            print("started")
        except UncheckedFormat as error:
            print(error)
    """
    result = _run_with_layer_only(layer, script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "uses format ['date-time']" in result.stdout
