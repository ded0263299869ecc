"""The order-status Lambda behind an IAM-authenticated Function URL: a thin adapter over status logic."""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions, function_versions
from lambdas.clients import clients
from lambdas.correlator.classify import execution_name_problem
from lambdas.status.dal import StatusStore
from lambdas.status.listing import (
    InvalidParameter,
    describe_deviation_page,
    describe_page,
    parse_deviation_request,
    parse_list_request,
)
from lambdas.status.logic import describe_instance, describe_model

logger = Logger()
app = LambdaFunctionUrlResolver()


@cache
def versions() -> Versions:
    return function_versions(os.environ)


def model() -> Choreography:
    """The current version: new orders start on it, and it names things for all."""
    return versions().current


@cache
def store() -> StatusStore:
    (dynamodb,) = clients("dynamodb")
    return StatusStore(dynamodb, os.environ["TABLE_NAME"])


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> dict[str, Any]:
    # A Function URL hands the path over as the client sent it, percent-encoded (ü as %C3%BC).
    try:
        order_id = unquote(order_id, errors="strict")
    except UnicodeDecodeError:
        raise BadRequestError(f"{model().instance_key} {order_id[:100]!r} is not percent-encoded UTF-8") from None
    problem = execution_name_problem(order_id)
    if problem:
        raise BadRequestError(f"{model().instance_key} {order_id[:100]!r} {problem}")
    records = store().instance_records(order_id)
    if not records:
        raise NotFoundError(f"no {model().instance_key} {order_id!r} in {model().name}")
    # Each order is read by the version it started on (a version no longer shipped: by the current).
    return describe_instance(versions().reading(records), order_id, records)


@app.get("/orders")
def list_orders() -> dict[str, Any]:
    try:
        parameters = app.current_event.query_string_parameters
        request = parse_list_request(model(), parameters, versions().milestone_names)
    except InvalidParameter as problem:
        raise BadRequestError(str(problem)) from None
    items, last_key = store().instances_by_status(
        request.status, milestone=request.milestone, limit=request.limit, start_key=request.start_key
    )
    return describe_page(model(), request, items, last_key)


@app.get("/deviations")
def list_deviations() -> dict[str, Any]:
    try:
        request = parse_deviation_request(app.current_event.query_string_parameters)
    except InvalidParameter as problem:
        raise BadRequestError(str(problem)) from None
    items, last_key = store().deviating_instances(model().name, limit=request.limit, start_key=request.start_key)
    return describe_deviation_page(model(), request, items, last_key)


@app.get("/model")
def get_model() -> dict[str, Any]:
    return {**describe_model(model()), "versions": list(versions().names)}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
