"""The app as `cdk synth` builds it: every model becomes a stack, bad input fails with a clear message,
and cdk-nag's AwsSolutions checks pass with only the acknowledgments in stacks/nag.py."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from lambdas.choreography.model import ModelError
from local.assembly import cdk_context
from stacks import nag
from stacks.app_builder import build_app
from stacks.config import SettingsError
from tests.conftest import ORDER_MODEL_PATH


def _models_dir(tmp_path: Path, *documents: tuple[str, str]) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    for name, text in documents:
        (directory / name).write_text(text)
    return directory


def test_every_model_becomes_its_own_stack(stacks: dict[str, object]) -> None:
    assert set(stacks) == {"LoanApplicationMonitor", "OrderFulfillmentMonitor", "ReturnRefundMonitor"}


def test_synthesis_reports_no_unacknowledged_finding(assembly_dir: Path) -> None:
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    assert [plugin for plugin in report["pluginReports"] if plugin["conclusion"] != "success"] == []


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app = cdk.App(context=cdk_context(), outdir=str(tmp_path / "out"))
    (stack, *_) = build_app(app, _models_dir(tmp_path, ("order.json", ORDER_MODEL_PATH.read_text())))
    sqs.Queue(stack, "Unprotected", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    violated = {
        violation["ruleName"]
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
        if construct["constructPath"].endswith("Unprotected/Resource")
    }
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS4"} <= violated


def test_every_acknowledgment_gives_a_reason() -> None:
    for kind, (finding, reason) in nag.ACKNOWLEDGMENTS.items():
        assert finding.startswith("AwsSolutions-"), kind
        assert len(reason) > 80, kind


def test_a_broken_model_stops_synthesis_naming_file_and_field(tmp_path: Path) -> None:
    document = json.loads(ORDER_MODEL_PATH.read_text())
    document["milestones"][1]["slaSeconds"] = 0
    models = _models_dir(tmp_path, ("broken.json", json.dumps(document)))
    with pytest.raises(ModelError, match=r"broken\.json: milestones\[1\]\.slaSeconds: 0 is less than the minimum of 1"):
        build_app(cdk.App(context=cdk_context(), outdir=str(tmp_path / "out")), models)


def test_an_empty_models_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no choreography model"):
        build_app(cdk.App(context=cdk_context(), outdir=str(tmp_path / "out")), _models_dir(tmp_path))


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("allowedAccounts", ["12345"], "not a 12-digit account id"),
        ("retentionDays", 0, "not a positive whole number"),
        ("stateMachineLogLevel", "VERBOSE", "is not ALL, ERROR, FATAL or OFF"),
        ("retentionDay", 3, "unknown setting"),
        ("alertEmails", ["ops.example.com"], "is not an e-mail address"),
        ("archiveRetentionDays", -1, "not a positive whole number"),
        ("outOfOrderAlarm", "yes", "is not true or false"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, setting: str, value: object, message: str) -> None:
    context = cdk_context()
    context["choreography-monitor"] = {setting: value}
    models = _models_dir(tmp_path, ("order.json", ORDER_MODEL_PATH.read_text()))
    with pytest.raises(SettingsError, match=f"{setting}.*{message}|{message}"):
        build_app(cdk.App(context=context, outdir=str(tmp_path / "out")), models)


def test_listed_accounts_may_publish_to_the_bus(tmp_path: Path) -> None:
    context = cdk_context()
    context["choreography-monitor"] = {"allowedAccounts": ["111122223333"]}
    models = _models_dir(tmp_path, ("order.json", ORDER_MODEL_PATH.read_text()))
    (stack,) = build_app(cdk.App(context=context, outdir=str(tmp_path / "out")), models)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Events::EventBusPolicy", 2)
    template.has_resource_properties(
        "AWS::Events::EventBusPolicy",
        {
            "Statement": {
                "Principal": {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::111122223333:root"]]}}
            }
        },
    )


def test_alert_emails_subscribe_to_the_topic_and_the_archive_keeps_the_configured_days(tmp_path: Path) -> None:
    context = cdk_context()
    context["choreography-monitor"] = {
        "alertEmails": ["ops@example.com", "oncall@example.com"],
        "archiveRetentionDays": 7,
    }
    models = _models_dir(tmp_path, ("order.json", ORDER_MODEL_PATH.read_text()))
    (stack,) = build_app(cdk.App(context=context, outdir=str(tmp_path / "out")), models)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 2)
    for address in ("ops@example.com", "oncall@example.com"):
        template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": address})
    template.has_resource_properties("AWS::Events::Archive", {"RetentionDays": 7})


def test_the_out_of_order_alarm_watches_what_the_correlator_emits_for_all_pairs(tmp_path: Path) -> None:
    context = cdk_context()
    context["choreography-monitor"] = {"outOfOrderAlarm": True}
    models = _models_dir(tmp_path, ("order.json", ORDER_MODEL_PATH.read_text()))
    (stack,) = build_app(cdk.App(context=context, outdir=str(tmp_path / "out")), models)
    template = Template.from_stack(stack).to_json()
    resources = template["Resources"]
    alarms = {i: r["Properties"] for i, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    (alarm,) = [a for i, a in alarms.items() if i.startswith("AlertingServicesOutOfOrder")]
    (correlator,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "lambdas.correlator.handler.handler"
    ]
    variables = correlator["Environment"]["Variables"]
    # The correlator's all-pairs metric: its namespace, and the service dimension alone, as Powertools
    # writes them from the function's environment.
    assert (alarm["Namespace"], alarm["MetricName"]) == (variables["POWERTOOLS_METRICS_NAMESPACE"], "OutOfOrder")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
