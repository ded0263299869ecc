"""`python -m cli`: where an order is, which orders are stuck, and a picture of one order's execution.

Against a deployed stack (--stack, or --url) requests are signed with your AWS credentials; against the
local runtime (`make serve`), pass the status URL it prints and sign with its credentials (local/local).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from cli.client import StatusClient, StatusError, status_url_of_stack
from cli.executions import execution_definition, execution_history
from cli.picture import write_picture
from cli.render import listing_view, order_view

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
    picture = commands.add_parser("picture", parents=[common], help="an SVG of one order's execution graph")
    picture.add_argument("order_id")
    picture.add_argument("--out", type=Path, default=Path("pictures"), help="folder to write ORDER_ID.svg into")
    picture.add_argument("--endpoint-url", help="Step Functions endpoint (the local runtime's, from make serve)")
    args = parser.parse_args(argv)
    for name in ("url", "stack", "region", "profile"):
        setattr(args, name, getattr(args, name, None))
    args.json = getattr(args, "json", False)
    if not (args.url or args.stack):
        parser.error("give the status URL with --url, or a deployed stack with --stack")
    return args


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
    client = status_client(args)
    if args.command == "list":
        page = client.orders(args.status, args.milestone, args.limit, args.next_token)
        return page, listing_view(page)
    order = client.order(args.order_id)
    if args.command == "status":
        return order, order_view(order)
    if "executionArn" not in order:
        raise SystemExit(f"{args.order_id}: no execution to draw ({order['status']})")
    arn = order["executionArn"]
    session = boto3.Session(profile_name=args.profile, region_name=arn.split(":")[3])
    stepfunctions = session.client("stepfunctions", endpoint_url=args.endpoint_url)
    path = write_picture(
        args.out / f"{args.order_id}.svg",
        execution_definition(stepfunctions, arn),
        execution_history(stepfunctions, arn),
        title=f"{args.order_id}: {order['status']} ({order['model']} {order['modelVersion']})",
    )
    return {"orderId": args.order_id, "picture": str(path)}, str(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        answer, view = run(args)
    except StatusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else view)
    return 0


if __name__ == "__main__":
    sys.exit(main())
