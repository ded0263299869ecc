"""`python -m cli`: where an order is, which orders are stuck, a picture of one order's execution, the
web console, the redrive of dead-lettered events, the replay of the bus's archive, and the check of
model files.

Against a deployed stack (--stack, or --url) requests are signed with your AWS credentials; against the
local runtime (`make serve`), pass the status URL it prints and sign with its credentials (local/local).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cli.client import StatusClient, StatusError, status_url_of_stack
from cli.console import stack_sources
from cli.executions import execution_definition, execution_history
from cli.picture import write_picture
from cli.redrive import QUEUES, DeadLetterQueue, queue_of_url, redrive, redrive_view, stack_queues
from cli.render import deviations_view, listing_view, order_view
from cli.replay import replay
from cli.stack import MissingOutputs, required, stack_outputs
from console.server import serve_console
from lambdas.choreography.model import load_model, model_problems
from stacks.names import stack_name
from stacks.packaging import MODELS_DIR

STATUSES = ("RUNNING", "STUCK", "FAILED", "COMPLETED")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    # The options may come before or after the command; SUPPRESS keeps the command's parser from
    # overwriting with its defaults what was given before it.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    target = common.add_mutually_exclusive_group()
    target.add_argument("--url", help="the status function's URL (the stack's StatusUrl output, or make serve's)")
    target.add_argument("--stack", help="a deployed monitor stack, e.g. OrderFulfillmentMonitor: its StatusUrl is used")
    common.add_argument("--region", help="AWS region (default: your configuration's, else us-east-1)")
    common.add_argument("--profile", help="AWS named profile whose credentials sign the requests")
    common.add_argument("--json", action="store_true", help="print the function's JSON answer, for scripts")

    parser = argparse.ArgumentParser(prog="python -m cli", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", parents=[common], help="where one order is, milestone by milestone")
    status.add_argument("order_id")
    listing = commands.add_parser("list", parents=[common], help="orders of one status, newest first")
    listing.add_argument("--status", required=True, choices=STATUSES)
    listing.add_argument("--milestone", help="only orders stuck or failed at this milestone")
    listing.add_argument("--limit", type=int, help="orders per page (1 to 100)")
    listing.add_argument("--next", dest="next_token", help="the page token a previous listing printed")
    deviations = commands.add_parser(
        "deviations", parents=[common], help="orders whose services acted out of the modelled order, latest first"
    )
    deviations.add_argument("--limit", type=int, help="orders per page (1 to 100)")
    deviations.add_argument("--next", dest="next_token", help="the page token a previous listing printed")
    picture = commands.add_parser("picture", parents=[common], help="an SVG of one order's execution graph")
    picture.add_argument("order_id")
    picture.add_argument("--out", type=Path, default=Path("pictures"), help="folder to write ORDER_ID.svg into")
    picture.add_argument(
        "--endpoint-url", help="Step Functions endpoint (default: AWS's, or make serve's when --url is its status URL)"
    )
    add_console_parser(commands, common)
    add_redrive_parser(commands, common)
    add_replay_parser(commands, common)
    validate = commands.add_parser(
        "validate", parents=[common], help="check model files, one line per problem (no AWS needed)"
    )
    validate.add_argument(
        "files", nargs="*", type=Path, help=f"model files (default: every one under {MODELS_DIR.name}/)"
    )
    args = parser.parse_args(argv)
    for name in ("url", "stack", "region", "profile"):
        setattr(args, name, getattr(args, name, None))
    args.json = getattr(args, "json", False)
    if args.command == "validate":
        args.files = args.files or sorted(MODELS_DIR.glob("*.json"))
    elif args.command == "console":
        if args.url:
            parser.error("the console reads a stack's status URL, state machine and queues: give --stack")
        args.stacks = ([args.stack] if args.stack else []) + args.more_stacks
    elif args.command == "redrive":
        check_redrive_target(parser, args)
    elif args.command == "replay":
        if args.url or not (args.stack or (args.archive and args.bus)):
            parser.error("give a deployed stack with --stack, or the archive with --archive and the bus with --bus")
        if args.end <= args.start:
            parser.error("--to must come after --from")
    elif not (args.url or args.stack):
        parser.error("give the status URL with --url, or a deployed stack with --stack")
    return args


def add_console_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    console = commands.add_parser(
        "console", parents=[common], help="the web console against deployed stacks, served on 127.0.0.1"
    )
    console.add_argument(
        "more_stacks", nargs="*", metavar="STACK", help="more stacks (default, without --stack: the app's, as deployed)"
    )
    console.add_argument("--port", type=int, default=0, help="the console's port (default: any free one)")
    console.add_argument("--seconds", type=float, default=0, help="stop after this long (0: run until interrupted)")
    console.add_argument("--endpoint-url", help="AWS endpoint (the local runtime's, from make serve)")


def add_redrive_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    redrive = commands.add_parser(
        "redrive", parents=[common], help="put dead-lettered and quarantined events back on the bus"
    )
    redrive.add_argument("--dry-run", action="store_true", help="report what would be redriven; put and delete nothing")
    redrive.add_argument(
        "--queue", dest="queues", action="append", choices=QUEUES, help="with --stack: a queue to redrive (default all)"
    )
    redrive.add_argument("--bus", help="without --stack: the bus to put the events on")
    redrive.add_argument("--queue-url", dest="queue_urls", action="append", help="without --stack: a queue to redrive")
    redrive.add_argument("--max-messages", type=int, default=1000, help="the most messages read from each queue")
    redrive.add_argument("--endpoint-url", help="AWS endpoint (the local runtime's, from make serve)")


def add_replay_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    replaying = commands.add_parser(
        "replay", parents=[common], help="replay a time window of the bus's archive onto the bus (a backfill)"
    )
    replaying.add_argument("--from", dest="start", required=True, type=_moment, help="ISO 8601, e.g. 2026-11-26T00:00Z")
    replaying.add_argument("--to", dest="end", required=True, type=_moment, help="ISO 8601, after --from")
    replaying.add_argument("--name", help="the replay's name (default: backfill-<from>-<to>)")
    replaying.add_argument("--archive", help="without --stack: the archive's name")
    replaying.add_argument("--bus", help="without --stack: the bus to replay onto")
    replaying.add_argument("--endpoint-url", help="AWS endpoint (the local runtime's, from make serve)")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_redrive_target(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Either a stack (its outputs name the bus and the queues), or the bus and the queues themselves."""
    if args.url:
        parser.error("redrive reads queues, not the status URL: give --stack, or --bus and --queue-url")
    if args.stack and (args.bus or args.queue_urls):
        parser.error("with --stack the bus and the queues come from its outputs: --bus and --queue-url go without it")
    if not args.stack and not (args.bus and args.queue_urls):
        parser.error("give a deployed stack with --stack, or the bus with --bus and each queue with --queue-url")
    if args.queues and not args.stack:
        parser.error("--queue names one of the stack's queues: give --stack, or the queue's URL with --queue-url")
    if args.max_messages < 1:
        parser.error("--max-messages must be at least 1")


def status_client(args: argparse.Namespace) -> StatusClient:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    region = session.region_name or "us-east-1"
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit(
            "no AWS credentials found: configure a profile, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    url = args.url or status_url_of_stack(session.client("cloudformation", region_name=region), args.stack)
    return StatusClient(url, credentials, region)


def run(args: argparse.Namespace) -> tuple[Any, str]:
    """The command's answer, and how it reads to a person."""
    if args.command == "validate":
        return run_validate(args)
    if args.command == "redrive":
        return run_redrive(args)
    if args.command == "replay":
        return run_replay(args)
    if args.command == "console":
        return run_console(args)
    client = status_client(args)
    if args.command == "list":
        page = client.orders(args.status, args.milestone, args.limit, args.next_token)
        return page, listing_view(page)
    if args.command == "deviations":
        page = client.deviations(args.limit, args.next_token)
        return page, deviations_view(page)
    order = client.order(args.order_id)
    if args.command == "status":
        return order, order_view(order)
    if "executionArn" not in order:
        raise SystemExit(f"{args.order_id}: no execution to draw ({order['status']})")
    arn = order["executionArn"]
    session = boto3.Session(profile_name=args.profile, region_name=arn.split(":")[3])
    # Against make serve, its own endpoint, which its status server names.
    stepfunctions = session.client("stepfunctions", endpoint_url=args.endpoint_url or client.local_endpoint)
    path = write_picture(
        args.out / f"{args.order_id}.svg",
        execution_definition(stepfunctions, arn),
        execution_history(stepfunctions, arn),
        title=f"{args.order_id}: {order['status']} ({order['model']} {order['modelVersion']})",
    )
    return {order["key"]: args.order_id, "picture": str(path)}, str(path)


def run_validate(args: argparse.Namespace) -> tuple[Any, str]:
    problems = {str(path): model_problems(path) for path in args.files}
    answer = {path: [{"field": p.field, "problem": p.message} for p in found] for path, found in problems.items()}
    lines = [str(problem) for found in problems.values() for problem in found]
    valid = [path for path, found in problems.items() if not found]
    lines += [f"{path}: valid" for path in valid]
    return answer, "\n".join(lines)


def run_redrive(args: argparse.Namespace) -> tuple[Any, str]:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    region = session.region_name or "us-east-1"

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=args.endpoint_url)

    bus, queues = redrive_target(args, client)
    reports = redrive(
        client("sqs"), client("events"), bus, queues, dry_run=args.dry_run, max_messages=args.max_messages
    )
    answer = {"bus": bus, "dryRun": args.dry_run, "queues": [report.as_dict() for report in reports]}
    return answer, redrive_view(bus, reports, dry_run=args.dry_run)


def run_replay(args: argparse.Namespace) -> tuple[Any, str]:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    region = session.region_name or "us-east-1"
    archive, bus = args.archive, args.bus
    if args.stack:
        outputs = stack_outputs(session.client("cloudformation", region_name=region), args.stack)
        archive, bus = required(outputs, args.stack, ["ArchiveName", "BusName"])
    name = args.name or f"backfill-{args.start:%Y%m%dT%H%M}-{args.end:%Y%m%dT%H%M}"
    events = session.client("events", region_name=region, endpoint_url=args.endpoint_url)
    description = replay(events, archive_name=archive, bus_name=bus, start=args.start, end=args.end, name=name)
    answer = {key: str(value) for key, value in description.items() if key != "ResponseMetadata"}
    return answer, f"replay {name} of {archive} onto {bus}: {description['State']}"


def run_console(args: argparse.Namespace) -> tuple[Any, str]:
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    names = args.stacks or deployed_app_stacks(session, args.endpoint_url)
    sources = stack_sources(session, names, args.endpoint_url)
    with serve_console(sources, args.port) as console:
        print(f"console {console.url}  (open it in a browser on this machine; Ctrl-C stops it)", flush=True)
        print(f"  stacks: {', '.join(names)}", flush=True)
        deadline = time.monotonic() + args.seconds if args.seconds else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return {"console": console.url, "stacks": names}, "console stopped"


def deployed_app_stacks(session: Any, endpoint_url: str | None) -> list[str]:
    """The app's stacks (one per model under choreographies/) that are deployed in this account and region."""
    cloudformation = session.client(
        "cloudformation", region_name=session.region_name or "us-east-1", endpoint_url=endpoint_url
    )
    names = [stack_name(load_model(path)) for path in sorted(MODELS_DIR.glob("*.json"))]
    found = []
    for name in names:
        try:
            cloudformation.describe_stacks(StackName=name)
        except ClientError as error:
            if "does not exist" not in str(error):
                raise
            continue
        found.append(name)
    if not found:
        raise SystemExit(f"none of the app's stacks is deployed here ({', '.join(names)}): name one with --stack")
    return found


def redrive_target(args: argparse.Namespace, client: Callable[[str], Any]) -> tuple[str, list[DeadLetterQueue]]:
    """The bus and the queues: the stack's outputs, or as given. A queue named twice is redriven once."""
    if args.stack:
        names = list(dict.fromkeys(args.queues or QUEUES))
        return stack_queues(stack_outputs(client("cloudformation"), args.stack), args.stack, names)
    return args.bus, [queue_of_url(url) for url in dict.fromkeys(args.queue_urls)]


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        answer, view = run(args)
    except (StatusError, MissingOutputs, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else view)
    # A redrive that left events in their queues because AWS refused them has not finished its work.
    failed = (
        (args.command == "redrive" and any(queue["failed"] for queue in answer["queues"]))
        or (args.command == "replay" and answer["State"] != "COMPLETED")
        or (args.command == "validate" and any(answer.values()))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
