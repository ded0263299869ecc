"""`python -m local.serve`: the monitor of each model behind a local AWS endpoint, and a web console.

Point boto3 or the AWS CLI at a model's printed endpoint, put events on its bus, and watch the executions
and the table; the real handlers run as events arrive. Every shipped model is served unless --model names
some: the first on --port, the next on the port after it, and so on.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from console.server import serve_console
from lambdas.choreography.model import Choreography
from local.assembly import ensure_synthesized, load_stacks, scaled_sla, with_sla_scale
from local.console_source import Served, local_source
from local.gateway import LOCAL_CREDENTIALS, serve_status
from local.models import UnknownModel, chosen_models
from local.runtime import LocalRuntime
from local.several import ServeFailed, serve_models
from stacks.names import stack_name


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__)
    parser.add_argument("--model", action="append", help="a model's name (repeat for several; default: all)")
    parser.add_argument(
        "--port", type=int, default=5000, help="the first model's AWS endpoint port (0: a free one for each model)"
    )
    parser.add_argument("--status-port", type=int, default=0, help="the first status URL's port (default: any free)")
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
    # How a console over several models starts one process per model (local/several.py).
    parser.add_argument("--no-console", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _arguments()
    args = parser.parse_args(argv)
    if not 0 < args.sla_scale <= 1:
        parser.error("--sla-scale is a factor above 0 and at most 1")
    # One line per request hides the handlers' own lines (and once filled a pipe nobody read, which
    # blocked every request behind the logging lock): quiet unless asked.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        models = [model for name in args.model or [None] for _, model in chosen_models(name)]
    except UnknownModel as unknown:
        parser.error(str(unknown))
    models = list({model.name: model for model in models}.values())
    assembly = args.assembly or ensure_synthesized()
    if len(models) == 1:
        serve_one(args, models[0], assembly)
    else:
        serve_several(args, models, assembly)


def serve_one(args: argparse.Namespace, model: Choreography, assembly: Path) -> None:
    stacks = {stack.name: stack for stack in load_stacks(assembly)}
    stack = stacks[stack_name(model)]
    if args.sla_scale != 1:
        stack = with_sla_scale(stack, model, args.sla_scale)
    with contextlib.ExitStack() as serving:
        runtime = serving.enter_context(LocalRuntime(stack, port=args.port or free_port()))
        status_url = serving.enter_context(serve_status(runtime, args.status_port))
        if not args.no_console:
            console = serving.enter_context(serve_console([local_source(runtime)], args.console_port))
            print(f"console {console.url}  (open it in a browser on this machine)", flush=True)
        if args.ready_file:
            Served.of(runtime, status_url).write(args.ready_file)
        _print_served(runtime, model, status_url, args.sla_scale)
        parent = os.getppid()
        deadline = time.monotonic() + args.seconds if args.seconds else None
        seen = 0
        try:
            while deadline is None or time.monotonic() < deadline:
                if args.ready_file and os.getppid() != parent:
                    return  # the console that started this process is gone
                runtime.platform.pump()
                total = sum(runtime.outcomes.values())
                if total != seen:
                    print(f"  {model.name}: events handled: {total} {dict(runtime.outcomes)}", flush=True)
                    seen = total
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


def serve_several(args: argparse.Namespace, models: list[Choreography], assembly: Path) -> None:
    """One process per model (a model's handlers keep it for their process), one console over them."""
    each = [*(["--verbose"] if args.verbose else []), "--sla-scale", str(args.sla_scale), "--assembly", str(assembly)]
    if args.seconds:
        each += ["--seconds", str(args.seconds + 30)]  # this process stops them; this only bounds strays
    per_model = {
        model.name: [
            *("--model", model.name, "--port", str(args.port + number if args.port else 0)),
            *("--status-port", str(args.status_port + number if args.status_port else 0)),
            *each,
        ]
        for number, model in enumerate(models)
    }
    # A terminated console stops its models' processes too.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    relay = threading.Event()
    try:
        with (
            serve_models(per_model, relay) as fleet,
            serve_console([served.source() for served in fleet.served], args.console_port) as console,
        ):
            print(f"console {console.url}  (open it in a browser on this machine)", flush=True)
            print(f"  {len(models)} models: {', '.join(model.name for model in models)}", flush=True)
            relay.set()
            deadline = time.monotonic() + args.seconds if args.seconds else None
            while deadline is None or time.monotonic() < deadline:
                fleet.check()
                time.sleep(0.2)
    except ServeFailed as failed:
        sys.exit(str(failed))
    except KeyboardInterrupt:
        pass


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _print_served(runtime: LocalRuntime, model: Choreography, status_url: str, sla_scale: float) -> None:
    """What a model serves, in one write: beside other models' processes, its lines stay together."""
    endpoint = f"http://127.0.0.1:{runtime.port}"
    source = model.events[model.start_event].source
    (key, secret), *_ = LOCAL_CREDENTIALS.items()
    lines = [
        f"{model.name} serving at {endpoint} (region us-east-1, any credentials)",
        f"  bus {runtime.platform.bus_name}, table {runtime.table_name}",
        f"  state machine {runtime.state_machine_arn}",
    ]
    if sla_scale != 1:
        slas = ", ".join(f"{m.name} {scaled_sla(m.sla_seconds, sla_scale)} s" for m in model.milestones)
        lines.append(f"  SLAs scaled by {sla_scale:g}: {slas}")
    lines += [
        f"  status URL {status_url} (IAM auth: sign with AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret})",
        f"  try: python -m cli --url {status_url} list --status RUNNING",
        f"       python -m cli --url {status_url} picture ORDER_ID   (reads this endpoint by itself)",
        f"  try: aws --endpoint-url {endpoint} --region us-east-1 events put-events --entries "
        f'\'[{{"EventBusName":"{runtime.platform.bus_name}","Source":"{source}",'
        f'"DetailType":"{model.start_event}","Detail":"{{...}}"}}]\'',
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
