"""The end-of-execution check's Lambda: a thin adapter from Step Functions' status-change event (on the
account's default bus, filtered by the rule to this stack's machines and their end) to the check."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.choreography.versions import function_versions
from lambdas.clients import clients
from lambdas.conformance.ended import ended_instance
from lambdas.conformance.logic import EndCheck
from lambdas.conformance.marks import DeviationMarks, count_out_of_order
from lambdas.status.dal import StatusStore

logger = Logger()


@cache
def end_check() -> EndCheck:
    versions = function_versions(os.environ)
    (dynamodb,) = clients("dynamodb")
    table_name = os.environ["TABLE_NAME"]
    return EndCheck(
        versions, StatusStore(dynamodb, table_name), DeviationMarks(dynamodb, table_name, versions.current.name)
    )


@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    instance_id = ended_instance(event)  # raises for anything else: the rule's dead letters keep it
    marked = end_check().check(instance_id, datetime.now(UTC))
    # Counted under the correlator's service, with the pairs it counts: one metric, whoever marks a pair.
    count_out_of_order(marked, service=os.environ["OUT_OF_ORDER_SERVICE"])
    result = {"instance": instance_id, "marked": sorted(f"{m} before {f}" for m, f in marked)}
    logger.info("execution end checked", extra=result)
    return result
