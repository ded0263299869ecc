"""Lambda packaging without Docker.

Dependencies are installed by pip as platform wheels for the functions' architecture into a layer folder,
cached under .build/ by the hash of lambdas/requirements.txt. The functions' own code is the lambdas
package plus the model file, staged as a plain folder: CDK hashes it, so a change to either redeploys.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = PROJECT_ROOT / ".build"
RUNTIME_CODE = PROJECT_ROOT / "lambdas"
REQUIREMENTS = RUNTIME_CODE / "requirements.txt"
MODEL_FILE_NAME = "choreography.json"  # where a function finds its model, beside the lambdas package

# Matches the functions' runtime and architecture (stacks/constructs/functions.py).
PYTHON_VERSION = "3.14"
PLATFORM = "manylinux2014_aarch64"


class PackagingError(RuntimeError):
    pass


def dependencies_layer_directory() -> Path:
    """A folder laid out as a Lambda layer (python/...), built once per requirements file."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + f"{PYTHON_VERSION}/{PLATFORM}".encode()).hexdigest()[:16]
    target = BUILD_DIR / f"layer-{digest}"
    if (target / "python").is_dir():
        return target
    staging = BUILD_DIR / f"layer-{digest}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(staging / "python"),
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--only-binary=:all:", "--no-compile",
        "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(f"pip could not build the Lambda dependencies layer:\n{result.stderr}")
    staging.rename(target)
    return target


def function_code_directory(model_path: Path, model_name: str) -> Path:
    """The functions' code for one model: the lambdas package and the model file beside it."""
    target = BUILD_DIR / "functions" / model_name
    staging = target.with_name(f"{model_name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(
        RUNTIME_CODE,
        staging / RUNTIME_CODE.name,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"),
    )
    shutil.copyfile(model_path, staging / MODEL_FILE_NAME)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
