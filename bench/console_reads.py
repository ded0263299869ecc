"""What the console's overview costs to keep open, measured at its worst: more stuck and more failed
orders than one page of each listing holds, so each of its status Queries reads a full page.

The console is built as `python -m cli console` builds it against a deployed stack (counts from Step
Functions' metrics, kept for a minute), over the local runtime: each AWS call it makes is recorded by
operation (the status function's own calls under that function), and each of the status function's
DynamoDB reads is priced in read units on the items as stored. Nothing here writes: the counts are kept
by what the system already does for every order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial

from bench.costs import PriceList
from bench.costs import gb_seconds as gb_seconds_of
from bench.meter import Meter
from bench.system import functions_of
from cli.console import COUNTS_TTL_SECONDS
from console.executions import METRICS, metric_counts
from console.overview import TALLIED, overview
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.calls import handler_invocation
from local.console_source import local_source
from local.runtime import LocalRuntime
from local.seed import seed, with_first_sla_short

CONSOLE = "console"
REFRESH_SECONDS = 3  # console/static/console.js
REFRESHES_PER_HOUR = 3600 // REFRESH_SECONDS
BEYOND_A_PAGE = TALLIED + 10  # stuck orders, and failed ones: more than a listing's page


@dataclass(frozen=True)
class ConsoleReads:
    page_load: Mapping[str, int]  # AWS operation -> calls, the first overview (the model's graph included)
    refresh: Mapping[str, int]  # a refresh within the counts' minute
    refresh_invocations: int  # of the status function
    refresh_read_units: float  # DynamoDB read units of one refresh
    stuck: int  # orders stuck and failed when measured
    failed: int
    usd_per_hour: Mapping[str, float]  # an overview left open, by service


def measure(
    stack: StackTemplate, model: Choreography, prices: PriceList, token_bytes: int, orders: int = BEYOND_A_PAGE
) -> ConsoleReads:
    """With `orders` stuck and as many failed (the default: more than a page of each listing)."""
    status_function = next(f for f in functions_of(stack).values() if f.behind_url)
    with (
        LocalRuntime(with_first_sla_short(stack, model)) as runtime,
        Meter(runtime, {table.TASK_TOKEN: token_bytes}).attached() as meter,
    ):
        seeded = seed(runtime, model, {"stuck": orders, "failed": orders}, prefix="BENCH")
        # The local source, counting as the deployed console counts: from the metrics, once a minute.
        source = replace(
            local_source(runtime),
            count_executions=partial(metric_counts, runtime.session_client("cloudwatch"), runtime.state_machine_arns),
            counts_ttl_seconds=COUNTS_TTL_SECONDS,
        )

        def calls_of(page: Callable[[], object]) -> Counter[str]:
            made = len(runtime.calls.made)
            with handler_invocation(CONSOLE):
                page()
            return Counter(call.operation for call in runtime.calls.made[made:])

        page_load = calls_of(lambda: (overview(source), source.model_graph()))
        status_id = status_function.logical_id
        before = meter.read_units[status_id], meter.invocations[status_id]
        refresh = calls_of(lambda: overview(source))
        read_units = float(meter.read_units[status_id] - before[0])
        invocations = meter.invocations[status_id] - before[1]
        durations = meter.durations(status_id)[-invocations:]
    gb_seconds = sum(gb_seconds_of(status_function.memory_mb, duration) for duration in durations)
    per_hour = {
        "DynamoDB reads": prices["dynamodb_read_request_units"].of(read_units * REFRESHES_PER_HOUR),
        "Lambda": prices["lambda_requests"].of(invocations * REFRESHES_PER_HOUR)
        + prices[f"lambda_duration_{status_function.architecture}"].of(gb_seconds * REFRESHES_PER_HOUR),
        "SQS": prices["sqs_requests"].of(refresh["GetQueueAttributes"] * REFRESHES_PER_HOUR),
        # One GetMetricData of every metric a minute, however often the page refreshes.
        "CloudWatch": prices["cloudwatch_getmetricdata_metrics"].of(len(METRICS) * 3600 / COUNTS_TTL_SECONDS),
    }
    return ConsoleReads(
        dict(page_load), dict(refresh), invocations, read_units, len(seeded.stuck), len(seeded.failed), per_hour
    )
