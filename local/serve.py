"""`python -m local.serve`: the monitor of one model behind a local AWS endpoint.

Point boto3 or the AWS CLI at the printed endpoint, put events on the bus, and watch the executions and
the table; the real handlers run in this process as events arrive.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from console.server import serve_console
from local.assembly import ensure_synthesized, load_stacks, scaled_sla, with_sla_scale
from local.console_source import local_source
from local.gateway import LOCAL_CREDENTIALS, serve_status
from local.models import UnknownModel, chosen_models
from local.runtime import LocalRuntime
from stacks.names import stack_name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__)
    parser.add_argument("--model", default="order-fulfillment", help="the model's name")
    parser.add_argument("--port", type=int, default=5000, help="the AWS endpoint's port")
    parser.add_argument("--status-port", type=int, default=0, help="the status URL's port (default: any free one)")
    parser.add_argument("--console-port", type=int, default=0, help="the web console's port (default: any free one)")
    parser.add_argument("--assembly", type=Path, help="a synthesized cloud assembly to serve (default: cdk.out)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: run until interrupted)")
    parser.add_argument("--verbose", action="store_true", help="also log every request the endpoint serves")
    parser.add_argument(
        "--sla-scale",
        type=float,
        default=1.0,
        help="multiply every milestone's SLA (0.01: a 15-minute SLA becomes 9 s, so stuck orders show in seconds)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.sla_scale <= 1:
        parser.error("--sla-scale is a factor above 0 and at most 1")
    # One line per request hides the handlers' own lines (and once filled a pipe nobody read, which
    # blocked every request behind the logging lock): quiet unless asked.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        ((_, model),) = chosen_models(args.model)
    except UnknownModel as unknown:
        parser.error(str(unknown))
    stacks = {stack.name: stack for stack in load_stacks(args.assembly or ensure_synthesized())}
    stack = stacks[stack_name(model)]
    if args.sla_scale != 1:
        stack = with_sla_scale(stack, model, args.sla_scale)
    with (
        LocalRuntime(stack, port=args.port) as runtime,
        serve_status(runtime, args.status_port) as status_url,
        serve_console([local_source(runtime)], args.console_port) as console,
    ):
        print(f"console {console.url}  (open it in a browser on this machine)", flush=True)
        endpoint = f"http://127.0.0.1:{args.port}"
        source = model.events[model.start_event].source
        (key, secret), *_ = LOCAL_CREDENTIALS.items()
        print(f"{model.name} serving at {endpoint} (region us-east-1, any credentials)")
        print(f"  bus {runtime.platform.bus_name}, table {runtime.table_name}")
        print(f"  state machine {runtime.state_machine_arn}")
        if args.sla_scale != 1:
            slas = ", ".join(f"{m.name} {scaled_sla(m.sla_seconds, args.sla_scale)} s" for m in model.milestones)
            print(f"  SLAs scaled by {args.sla_scale:g}: {slas}")
        print(f"  status URL {status_url} (IAM auth: sign with AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret})")
        print(f"  try: python -m cli --url {status_url} list --status RUNNING")
        print(f"       python -m cli --url {status_url} picture ORDER_ID   (reads this endpoint by itself)")
        print(
            f"  try: aws --endpoint-url {endpoint} --region us-east-1 events put-events --entries "
            f'\'[{{"EventBusName":"{runtime.platform.bus_name}","Source":"{source}",'
            f'"DetailType":"{model.start_event}","Detail":"{{...}}"}}]\'',
            flush=True,
        )
        deadline = time.monotonic() + args.seconds if args.seconds else None
        seen = 0
        try:
            while deadline is None or time.monotonic() < deadline:
                runtime.platform.pump()
                total = sum(runtime.outcomes.values())
                if total != seen:
                    print(f"  events handled: {total} {dict(runtime.outcomes)}", flush=True)
                    seen = total
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
