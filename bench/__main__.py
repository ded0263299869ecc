"""`make bench`: cost per order of this design and of the AWS sample's, on one seeded workload per model,
then handler micro-benchmarks. The figures are described in BENCHMARKS.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench import console_reads, micro, model_change, system
from bench.compare import compare
from bench.costs import DEFAULT_PRICES, load_prices
from bench.report import console_table, micro_table, model_change_table, model_table, soak_table
from lambdas.choreography.model import Choreography
from local.assembly import ensure_synthesized, load_stacks
from local.models import UnknownModel, chosen_models
from local.soak import Soak, soak
from stacks.names import stack_name


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", help="only this model (its name, e.g. order-fulfillment)")
    parser.add_argument("--orders", type=int, default=500, help="orders in each model's workload (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload (default 1)")
    parser.add_argument(
        "--prices", type=Path, default=DEFAULT_PRICES, help="prices file (default prices/us-east-1.json)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="models run side by side, one process each (default: one per core); 1 runs them in turn, in this process",
    )
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each micro-benchmark (default 20)")
    parser.add_argument(
        "--import-runs", type=int, default=5, help="fresh interpreters per cold-start import (default 5)"
    )
    parser.add_argument(
        "--token-bytes",
        type=int,
        default=system.TASK_TOKEN_BYTES,
        help=f"size a task token counts for in DynamoDB items (default {system.TASK_TOKEN_BYTES}, the API's maximum)",
    )
    parser.add_argument(
        "--soak-orders",
        type=int,
        default=1000,
        help="orders of the end-to-end soak of the model with the most milestones (default 1000; 0: none)",
    )
    parser.add_argument(
        "--soak-faults",
        type=float,
        default=0.1,
        help="share of the handlers' AWS calls that fail in the soak (default 0.1)",
    )
    parser.add_argument(
        "--console-orders",
        type=int,
        default=console_reads.BEYOND_A_PAGE,
        help="stuck orders, and as many failed, the console's overview is measured with "
        f"(default {console_reads.BEYOND_A_PAGE}: more than its listings' page)",
    )
    parser.add_argument(
        "--change-orders",
        type=int,
        default=20,
        help="orders of each group in the model change (before, across and after version 2; default 20; 0: none)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if not 0 <= args.soak_faults < 1 or args.soak_orders < 0 or args.change_orders < 0:
        parser.error("--soak-faults is a share between 0 and 1, --soak-orders and --change-orders at least 0")
    if min(args.orders, args.jobs, args.rounds, args.import_runs, args.token_bytes, args.console_orders) < 1:
        parser.error("--orders, --jobs, --rounds, --import-runs, --token-bytes and --console-orders are at least 1")
    return args


def _comparisons(models: list[tuple[Path, Choreography]], args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Each model's figures, in model order. moto is CPU-bound and holds the GIL: models go to processes
    of their own to use more than one core."""
    options = {"orders": args.orders, "seed": args.seed, "token_bytes": args.token_bytes, "prices_path": args.prices}
    jobs = min(args.jobs, len(models))
    if jobs == 1:
        for path, _ in models:
            yield compare(path, **options)
        return
    # spawn, not fork: this process may hold the CDK's Node.js bridge and its threads from synthesis.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(compare, path, **options) for path, _ in models]
        for future in futures:
            yield future.result()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    try:
        models = chosen_models(args.model)
    except UnknownModel as unknown:
        sys.exit(str(unknown))
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    started = time.monotonic()
    prices = load_prices(args.prices)
    cdk_out = ensure_synthesized()
    stacks = {stack.name: stack for stack in load_stacks(cdk_out)}
    jobs = min(args.jobs, len(models))
    print(f"command: {command}\nprices: {args.prices} ({prices.region})")
    print(
        f"running {', '.join(model.name for _, model in models)}: {args.orders} orders each, seed {args.seed}, "
        f"{jobs} at a time ...",
        flush=True,
    )
    results = []
    for result in _comparisons(models, args):
        results.append(result)
        print(model_table(result), flush=True)
    # The soak and the micro-benchmarks on the model with the most milestones: the most work per order.
    first_path, first = max(models, key=lambda entry: len(entry[1].milestones))
    stack = stacks[stack_name(first)]
    soak_report = None
    if args.soak_orders:
        print(f"\nrunning the soak: {args.soak_orders} orders of {first.name} on {args.jobs} runtimes ...", flush=True)
        plan = Soak(cdk_out, stack.name, first_path, args.soak_orders, args.seed, args.soak_faults, args.jobs)
        soak_report = soak(plan)
        print(soak_table(soak_report, args.soak_faults), flush=True)
    print(f"\nmeasuring the console's overview on {first.name} ...", flush=True)
    console = console_reads.measure(stack, first, prices, args.token_bytes, args.console_orders)
    print(console_table(console, first.name), flush=True)
    change = None
    if args.change_orders:
        print(f"\nmeasuring a model change with orders open on {first.name} ...", flush=True)
        change = model_change.measure(stack, first_path, args.change_orders, args.token_bytes)
        print(model_change_table(change), flush=True)
    status_function = next(f.logical_id for f in system.functions_of(stack).values() if f.behind_url)
    print(f"\nrunning the handler micro-benchmarks on {first.name} ...", flush=True)
    benchmarks = micro.run(stack, first, status_function, rounds=args.rounds, import_runs=args.import_runs)
    print(micro_table(benchmarks, first.name))
    elapsed = time.monotonic() - started
    print(f"\nbench done in {elapsed:.0f} s on {platform.python_implementation()} {platform.python_version()}")
    if args.json:
        document = {
            "command": command,
            "prices": str(args.prices),
            "jobs": jobs,
            "python": platform.python_version(),
            "elapsed_s": round(elapsed, 1),
            "models": results,
            "soak": soak_report,
            "console": dataclasses.asdict(console),
            "model_change": dataclasses.asdict(change) if change else None,
            "micro": dataclasses.asdict(benchmarks),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
