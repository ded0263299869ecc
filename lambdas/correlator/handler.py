"""The correlator Lambda: a thin adapter from an EventBridge delivery to the correlation logic.

Built once per cold start (model, compiled validators, clients); each invocation logs the outcome and
emits one metric. Errors other than expected outcomes propagate so that Lambda retries the event.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambdas.choreography.versions import function_versions
from lambdas.clients import clients
from lambdas.conformance.marks import count_out_of_order
from lambdas.correlator.classify import VersionedClassifier
from lambdas.correlator.dal import SQS_DEFAULT_MESSAGE_BYTES, DynamoStore, SqsQuarantine, StepFunctionsWorkflow
from lambdas.correlator.logic import Correlator, Outcome

logger = Logger()
metrics = Metrics()

# A few quick retries inside the call; beyond that the invocation fails and Lambda retries it later.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
METRIC_NAMES = {
    Outcome.STARTED: "InstancesStarted",
    Outcome.START_DUPLICATE: "EventsDuplicate",
    Outcome.DELIVERED: "EventsAccepted",
    Outcome.EARLY: "EventsAccepted",
    Outcome.DUPLICATE: "EventsDuplicate",
    Outcome.LATE: "EventsLate",
    Outcome.QUARANTINED: "EventsQuarantined",
}


def build_correlator(environment: Mapping[str, str]) -> Correlator:
    versions = function_versions(environment)
    model = versions.current
    dynamodb, stepfunctions, sqs = clients("dynamodb", "stepfunctions", "sqs", config=CLIENT_CONFIG)
    return Correlator(
        VersionedClassifier(versions),
        DynamoStore(dynamodb, environment["TABLE_NAME"], model.name),
        StepFunctionsWorkflow(stepfunctions, json.loads(environment["STATE_MACHINE_ARNS"])),
        SqsQuarantine(
            sqs,
            environment["QUARANTINE_QUEUE_URL"],
            model.name,
            int(environment.get("QUARANTINE_MAX_MESSAGE_BYTES", SQS_DEFAULT_MESSAGE_BYTES)),
        ),
        retention=timedelta(days=int(environment.get("RETENTION_DAYS", "90"))),
    )


@cache
def correlator() -> Correlator:
    return build_correlator(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    result = correlator().handle(event, datetime.now(UTC))
    # A dimension per known event type only: a quarantined event's type may be anything a sender wrote.
    known = result.event_type in correlator().classifier.versions.event_names
    metrics.add_dimension("eventType", result.event_type if known and result.event_type else "unknown")
    metrics.add_metric(name=METRIC_NAMES[result.outcome], unit=MetricUnit.Count, value=1)
    for milestone, seconds in (result.latencies or {}).items():
        # A metric set of its own: its dimension is the milestone measured, not the event's type.
        with single_metric(name="MilestoneLatency", unit=MetricUnit.Seconds, value=seconds) as latency:
            latency.add_dimension("milestone", milestone)
    # Which service acted before the one it should follow: the pairs newly marked on the instance.
    count_out_of_order([(milestone, follows) for milestone, follows, _ in result.deviations or ()])
    if result.outcome is Outcome.QUARANTINED:
        logger.warning("event quarantined", extra=result.as_dict())
    else:
        logger.info("event correlated", extra=result.as_dict())
    return result.as_dict()
