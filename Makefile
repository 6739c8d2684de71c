# Pulse developer entry points. `make up` runs the main job; `make test` runs the tests.
# Both install what they need on a fresh machine (venv, Kafka jars, redis-server).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PULSE  := $(BIN)/pulse

.PHONY: install up down test lint typecheck generate bench clean deploy-tools deploy-test observability-tools go-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## Python deps, then Kafka jars and redis-server (cached)
	$(PULSE) stack install

up: install  ## the main job: local stack + collector + loader + generator, live progress until Ctrl-C
	$(PULSE) up

down:
	$(PULSE) stack down

test: install go-tools  ## every test, on real components the test session starts itself
	$(BIN)/pytest

lint:
	$(BIN)/ruff check ingest grafana tests
	$(BIN)/ruff format --check ingest grafana tests

typecheck:
	$(BIN)/mypy
	$(BIN)/mypy --strict grafana

generate: install  ## dashboards JSON and provisioning YAML (Grafana) into provisioning/, committed; a test fails when stale
	$(PULSE) grafana generate --root .

clean:
	rm -rf .pulse .pulse-test

deploy-tools:  ## helm (built with Go, cached in ~/.cache/pulse/bin) and the Compose schema
	bash helm/scripts/install-tools.sh

observability-tools:  ## prometheus, promtool, amtool (built with Go, cached in ~/.cache/pulse/bin); the tests run it too
	@if command -v $${GO:-go} >/dev/null; then bash helm/scripts/install-tools.sh prometheus promtool amtool >/dev/null; \
	else echo "no Go toolchain: the tests that need prometheus/amtool will be skipped, saying so"; fi

# Every Go-built tool before pytest starts: a cold build inside a test fixture would run under the
# fixture's timeout, while here it has all the time it needs (and the fixture finds it cached).
go-tools:  ## helm, the Compose schema, prometheus, promtool, amtool (cached in ~/.cache/pulse/bin)
	@if command -v $${GO:-go} >/dev/null; then bash helm/scripts/install-tools.sh helm compose-schema prometheus promtool amtool >/dev/null; \
	else echo "no Go toolchain: the tests that need helm, prometheus or amtool will be skipped, saying so"; fi

deploy-test: install  ## helm lint/template, Kubernetes + Compose schemas, manifest policy
	$(BIN)/pytest tests/deploy
