"""Several models at once in `make serve`: one process per model, one console over them all.

A handler reads its model from the process's environment and keeps it, as in Lambda where a process
serves one function, so two models' runtimes cannot share a process. Each model gets a `local.serve` of
its own (its endpoint, its status URL), and the console in this process reads each one over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from local.console_source import Served
from stacks.packaging import PROJECT_ROOT

READY_S = 300.0  # how long a model's process may take to start on a machine whose cores are both busy


class ServeFailed(RuntimeError):
    """A model's process stopped or never served."""


@dataclass
class Fleet:
    processes: dict[str, subprocess.Popen[bytes]]  # model -> its process
    served: list[Served]

    def check(self) -> None:
        """Raise if a model's process has stopped: its pages would fail without saying why."""
        for model, process in self.processes.items():
            if process.poll() is not None:
                raise ServeFailed(f"{model}'s process stopped (exit code {process.returncode}); its output is above")


@contextlib.contextmanager
def serve_models(arguments: Mapping[str, Sequence[str]], relay: threading.Event) -> Iterator[Fleet]:
    """Run `python -m local.serve` once per model with its arguments, without its own console; wait until each one
    serves and yield what they serve; stop them when the block ends. What they print is copied to this
    process's output once `relay` is set, so that the console's address comes first."""
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as running:
        started: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for number, (model, child_arguments) in enumerate(arguments.items()):
            ready = Path(directory) / f"served-{number}.json"
            process = subprocess.Popen(
                [sys.executable, "-m", "local.serve", *child_arguments, "--no-console", "--ready-file", str(ready)],
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            running.callback(_stop, process)
            started[model] = (process, ready)
        fleet = Fleet(
            {model: process for model, (process, _) in started.items()},
            [_when_ready(model, process, ready) for model, (process, ready) in started.items()],
        )
        for process in fleet.processes.values():
            assert process.stdout is not None
            threading.Thread(target=_copy, args=(process.stdout, relay), daemon=True).start()
        yield fleet


def _when_ready(model: str, process: subprocess.Popen[bytes], ready: Path) -> Served:
    deadline = time.monotonic() + READY_S
    while not ready.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise ServeFailed(f"{model}'s process stopped before serving (exit code {process.returncode}):\n{output}")
        if time.monotonic() > deadline:
            raise ServeFailed(f"{model}'s process did not serve within {READY_S:.0f} s")
        time.sleep(0.1)
    return Served.read(ready)


def _copy(output: IO[bytes], relay: threading.Event) -> None:
    """As written, not line by line: a model's lines printed at once stay together beside the others'."""
    relay.wait()
    while chunk := os.read(output.fileno(), 65536):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
