# WA Gateway — the one entry point for setting up, generating, checking and running.
#
#   make setup   install what is missing: .venv (pip -e '.[dev]'), node_modules (buf, Vite...), Debian packages
#   make gen     regenerate gen/ from proto/ (Python stubs, .pyi, gRPC stubs, descriptor set for Envoy,
#                openapi.json with the examples of proto/wagw/v1/examples.yaml)
#   make console build the operator console (console/ → console/dist, served by Envoy at /); run and test do it
#   make lint    buf lint, buf breaking against main (BREAKING_BRANCH=...), ruff check, the layer rules (lint-imports)
#   make test    setup, lint, then pytest: the unit tests, the integration tests (TEST_WORKERS processes at once),
#                then the browser tests (Playwright driving Debian's chromium) (PYTEST_ARGS='-k bulk -x')
#   make test-unit  the unit tests alone (tests/unit: no processes, seconds)
#   make test-scale the scale-out drill (tests/scale: 2 of each role on PostgreSQL + Redis, SIGKILLs; minutes)
#   make run     setup, gen if a proto changed, then start the gateway (python -m server.launch)
#   make bench   run the benchmarks in bench/ (BENCHES='api streams send bulk webhooks delivery pacing idle'; BENCH_ARGS_api='--seconds 5')
#   make clean   remove caches and install stamps; `make distclean` also removes .venv and node_modules
#
# Installs are guarded by stamp files, so a second `make test` installs nothing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
VENV_STAMP  := $(VENV)/.installed
NODE_STAMP  := node_modules/.installed
BUF         := node_modules/.bin/buf
VITE        := node_modules/.bin/vite

# Debian packages the project needs at run time (libmagic1: neonize imports python-magic; ffmpeg: voice notes
# converted to OGG/Opus, with their duration and waveform, server/core/media_convert.py).
DEB_PACKAGES := libmagic1 ffmpeg
# How to tell a package is already there: deb_check_<package> if defined, else dpkg's own record.
deb_check_libmagic1 := ldconfig -p | grep -q libmagic.so.1
deb_check_ffmpeg := command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null
deb_check = $(or $(deb_check_$(1)),dpkg-query -W -f='$${Status}' $(1) 2>/dev/null | grep -q 'ok installed')
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Debian packages only the tests need: chromium, which the browser tests drive (tests/browser; never downloaded),
# and jq, which the README's examples use (tests/integration/test_readme.py runs them).
TEST_DEB_PACKAGES := chromium jq

# Code generation. GEN_OUT may point elsewhere (tests/test_contract.py regenerates into a temp dir).
GEN_OUT          ?= gen
# Proto packages: the public API (wagw/v1), the internal engine-host API (wagw/engine/v1) and the simulated
# WhatsApp's service (wagw/simulator/v1, internal too).
PROTO_DIRS       := wagw/v1 wagw/engine/v1 wagw/simulator/v1
PROTOS           := $(sort $(foreach d,$(PROTO_DIRS),$(wildcard proto/$(d)/*.proto)))
# googleapis protos our files import, vendored verbatim from the googleapis-common-protos wheel (see buf.yaml).
GOOGLEAPIS_DIR   := third_party/googleapis
GOOGLEAPIS_PROTOS := $(sort $(wildcard $(GOOGLEAPIS_DIR)/google/*/*.proto))
# What else the OpenAPI document is made from: the examples, the field rules and the generator itself.
OPENAPI_INPUTS   := proto/wagw/v1/examples.yaml gateway/field_rules.py gateway/openapi.py

# buf breaking compares the working tree with this branch.
BREAKING_BRANCH ?= main
# RUFF_FORMAT=1 adds `ruff format --check .` to lint (off until the codebase is ruff-format clean).
RUFF_FORMAT ?= 0
PYTEST_ARGS ?=
RUN_ARGS    ?=

.PHONY: help setup deb-packages gen console lint lint-proto lint-breaking lint-python lint-imports test test-unit test-scale run bench clean distclean

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------------------------- setup

setup: $(VENV_STAMP) $(NODE_STAMP) deb-packages

$(PY):
	python3 -m venv $(VENV)

$(VENV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deb-packages:
	@missing=""; \
	$(foreach p,$(DEB_PACKAGES),$(call deb_check,$(p)) || missing="$$missing $(p)";) \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# ------------------------------------------------------------------------------------------------ gen

PROTOC = $(PY) -m grpc_tools.protoc -I proto -I $(GOOGLEAPIS_DIR) \
  -I "$$($(PY) -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

# The protoc command line, in one place. Stale stubs are removed first so gen/ holds exactly what the
# protos define; protoc's output is deterministic, so regenerating unchanged protos changes no byte.
define generate
	$(foreach d,$(PROTO_DIRS),mkdir -p $(GEN_OUT)/$(d) && \
	  rm -f $(GEN_OUT)/$(d)/*_pb2.py $(GEN_OUT)/$(d)/*_pb2.pyi $(GEN_OUT)/$(d)/*_pb2_grpc.py;)
	$(PROTOC) \
	  --python_out=$(GEN_OUT) --pyi_out=$(GEN_OUT) --grpc_python_out=$(GEN_OUT) \
	  --descriptor_set_out=$(GEN_OUT)/descriptor.binpb --include_imports \
	  $(PROTOS)
	# The OpenAPI document (gateway/openapi.py) needs the proto comments: a descriptor set with source info,
	# built in a temporary directory (Envoy's gen/descriptor.binpb stays without it).
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PROTOC) --descriptor_set_out=$$tmp/source.binpb --include_imports --include_source_info $(PROTOS) && \
	  $(PY) -m gateway.openapi $$tmp/source.binpb $(GEN_OUT)
	touch -a $(GEN_OUT)/wagw/__init__.py $(GEN_OUT)/wagw/engine/__init__.py $(GEN_OUT)/wagw/simulator/__init__.py \
	  $(foreach d,$(PROTO_DIRS),$(GEN_OUT)/$(d)/__init__.py)
endef

gen: | $(VENV_STAMP)
	$(generate)

# `make run` regenerates only when a proto (or another input of openapi.json) is newer than the descriptor set.
$(GEN_OUT)/descriptor.binpb: $(PROTOS) $(GOOGLEAPIS_PROTOS) $(OPENAPI_INPUTS) | $(VENV_STAMP)
	$(generate)

# -------------------------------------------------------------------------------------------- console

# The operator console: Vite builds console/ into console/dist, which Envoy serves (gateway/envoy.py routes each
# built file). The build is not committed: it is made here, from the sources and the packages package-lock.json
# pins, whenever one of them is newer than it; Vite's output is the same for the same input.
CONSOLE_DIST    := console/dist/index.html
CONSOLE_SOURCES := $(shell find console -path console/dist -prune -o -type f -print)

$(CONSOLE_DIST): $(CONSOLE_SOURCES) $(NODE_STAMP)
	$(VITE) build --config console/vite.config.mjs

console: $(CONSOLE_DIST)

# ----------------------------------------------------------------------------------------------- lint

lint: lint-proto lint-breaking lint-python lint-imports

lint-proto: $(NODE_STAMP)
	$(BUF) lint

# Compares with the local branch $(BREAKING_BRANCH), or origin/$(BREAKING_BRANCH) in a clone of another branch.
# Skipped, with a notice, only while that branch has no proto/ yet (nothing to break).
lint-breaking: $(NODE_STAMP)
	@if git rev-parse -q --verify 'refs/heads/$(BREAKING_BRANCH)^{commit}' >/dev/null; then \
	  rev='$(BREAKING_BRANCH)'; against='.git#branch=$(BREAKING_BRANCH)'; \
	elif git rev-parse -q --verify 'refs/remotes/origin/$(BREAKING_BRANCH)^{commit}' >/dev/null; then \
	  rev='origin/$(BREAKING_BRANCH)'; against='.git#ref=origin/$(BREAKING_BRANCH)'; \
	else \
	  echo "buf breaking: no branch '$(BREAKING_BRANCH)' or 'origin/$(BREAKING_BRANCH)' to compare with" \
	       "(git fetch origin $(BREAKING_BRANCH), or set BREAKING_BRANCH=...)" >&2; \
	  exit 1; \
	fi; \
	if git cat-file -e "$$rev:proto" 2>/dev/null; then \
	  echo "$(BUF) breaking --against '$$against'"; \
	  $(BUF) breaking --against "$$against"; \
	else \
	  echo "buf breaking: skipped, $$rev has no proto/ directory yet"; \
	fi

lint-python: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
ifeq ($(RUFF_FORMAT),1)
	$(VENV)/bin/ruff format --check .
endif

# The roles' layer rules ([tool.importlinter] in pyproject.toml): the core imports no role, the API server and the
# workers reach the engine host only through its client, the engine host reaches the simulator only over gRPC
# (which imports the core only), nothing imports the tests.
lint-imports: $(VENV_STAMP)
	PYTHONPATH=.:gen $(VENV)/bin/lint-imports

# ----------------------------------------------------------------------------------------------- test

# pytest exits with 5 when it collects no test: that is not a failure here.
PYTEST = $(PY) -m pytest $(PYTEST_ARGS) $(1) || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; echo "pytest: no tests collected"; }

# The integration tests mostly wait (for deliveries, leases, restarts), so they run in TEST_WORKERS pytest processes
# at once (pytest-xdist), each with its own stacks, a file at a time (a file's module fixtures are set up once):
# on 2 cores, 7 minutes instead of 10. TEST_WORKERS=0 runs them in this process, one after another.
TEST_WORKERS ?= 2
INTEGRATION_ARGS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: setup $(CONSOLE_DIST)
	@$(MAKE) --no-print-directory deb-packages DEB_PACKAGES="$(TEST_DEB_PACKAGES)"
	@$(MAKE) --no-print-directory lint
	$(call PYTEST,tests/unit)
	$(call PYTEST,$(INTEGRATION_ARGS) tests/integration)
	$(call PYTEST,tests/browser)

test-unit: setup $(CONSOLE_DIST)
	$(call PYTEST,tests/unit)

# The scale-out drill (tests/scale): every role twice on PostgreSQL and Redis, processes killed mid-way; it prints
# its numbers (takeover time, longest failing stretch). .ci/run runs it after `make test`.
test-scale: setup $(CONSOLE_DIST)
	$(PY) -m pytest -s $(PYTEST_ARGS) tests/scale

# ------------------------------------------------------------------------------------------------ run

run: setup $(GEN_OUT)/descriptor.binpb $(CONSOLE_DIST)
	$(PY) -m server.launch $(RUN_ARGS)

# ---------------------------------------------------------------------------------------------- bench

# Each benchmark starts what it needs on 127.0.0.1 (a fresh database, the gateway's processes), prints its numbers
# as ratios against a baseline measured in the same run, and stops by itself. BENCH_ARGS_<name> are its arguments.
BENCHES ?= api streams send bulk webhooks delivery pacing idle
# Debian packages only the benchmarks need: wrk, the load generator.
BENCH_DEB_PACKAGES := wrk

define run_bench
	@echo "== bench/$(1).py"
	$(PY) -m bench.$(1) $(BENCH_ARGS_$(1))

endef

bench: setup $(GEN_OUT)/descriptor.binpb $(CONSOLE_DIST)
	@$(MAKE) --no-print-directory deb-packages DEB_PACKAGES="$(BENCH_DEB_PACKAGES)"
	$(foreach b,$(BENCHES),$(call run_bench,$(b)))

# ---------------------------------------------------------------------------------------------- clean

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info $(VENV_STAMP) $(NODE_STAMP) console/dist test-output
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) node_modules
