"""Lambda packaging without Docker.

Dependencies are installed by pip as platform wheels for the functions' architecture into a layer folder,
cached under .build/ by the hash of lambdas/requirements.txt. The functions' own code is the lambdas
package plus the model file, staged as a plain folder: CDK hashes it, so a change to either redeploys.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from lambdas.choreography.versions import earlier_versions_directory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = PROJECT_ROOT / ".build"
RUNTIME_CODE = PROJECT_ROOT / "lambdas"
REQUIREMENTS = RUNTIME_CODE / "requirements.txt"
MODELS_DIR = PROJECT_ROOT / "choreographies"  # the shipped models: one stack each
MODEL_FILE_NAME = "choreography.json"  # where a function finds its model, beside the lambdas package

# Matches the functions' runtime and architecture (stacks/constructs/functions.py).
PYTHON_VERSION = "3.14"
PLATFORM = "manylinux2014_aarch64"


class PackagingError(RuntimeError):
    pass


def dependencies_layer_directory() -> Path:
    """A folder laid out as a Lambda layer (python/...), built once per requirements file."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + f"{PYTHON_VERSION}/{PLATFORM}".encode()).hexdigest()[:16]
    return _build_once(BUILD_DIR / f"layer-{digest}", _install_dependencies)


def _install_dependencies(target: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(target / "python"),
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--only-binary=:all:", "--no-compile",
        "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(f"pip could not build the Lambda dependencies layer:\n{result.stderr}")


def function_code_directory(model_path: Path, model_name: str) -> Path:
    """The functions' code for one model: the lambdas package, the model file beside it, and the model's
    earlier versions still shipped, laid out as under choreographies/ (lambdas/choreography/versions.py)."""
    sources = sorted(p for p in RUNTIME_CODE.rglob("*") if p.is_file() and _is_runtime_code(p))
    earlier_directory = earlier_versions_directory(model_path)
    earlier = sorted(earlier_directory.glob("*.json")) if earlier_directory.is_dir() else []
    digest = hashlib.sha256(model_path.read_bytes())
    for path in sources:
        digest.update(str(path.relative_to(RUNTIME_CODE)).encode() + b"\0" + path.read_bytes())
    for path in earlier:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())

    def stage(target: Path) -> None:
        for path in sources:
            destination = target / RUNTIME_CODE.name / path.relative_to(RUNTIME_CODE)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        shutil.copyfile(model_path, target / MODEL_FILE_NAME)
        for path in earlier:
            destination = earlier_versions_directory(target / MODEL_FILE_NAME) / path.name
            destination.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, destination)

    return _build_once(BUILD_DIR / "functions" / f"{model_name}-{digest.hexdigest()[:16]}", stage)


def _is_runtime_code(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix != ".pyc" and path.name != REQUIREMENTS.name


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Build into a private folder, then rename it into place: concurrent builders (parallel test
    workers) never see a half-built folder, and the first one to finish wins."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
