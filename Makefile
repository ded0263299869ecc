# The README's commands. `make test` works on a fresh clone: it creates .venv and node_modules first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
DEMO_ARGS ?=
SERVE_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup browser test lint synth deploy demo serve bench screenshots clean

setup: $(VENV)/.installed node_modules/.installed browser

# Headless Chromium from Debian's packages, for the tests that look at what a browser shows.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# uv installs the same pinned versions as pip would, several times faster on a fresh machine.
UV_VERSION := 0.13.8

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

synth: setup
	npx cdk synth --quiet

deploy: setup
	npx cdk deploy --all

demo: synth
	$(BIN)/python -m local.demo $(DEMO_ARGS)

serve: synth
	$(BIN)/python -m local.serve $(SERVE_ARGS)

bench: synth
	$(BIN)/python -m bench $(BENCH_ARGS)

screenshots: synth
	$(BIN)/python -m local.screenshots

clean:
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache
