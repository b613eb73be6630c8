# edge.cluster: the two commands a newcomer needs are `make lab` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

EDGE_CLUSTER_CACHE ?= /var/cache/edge-cluster
export EDGE_CLUSTER_CACHE
TESTBED := tests/testbed
# Where ansible and pytest find this checkout as ansible_collections/edge/cluster.
COLLECTIONS_ROOT := $(EDGE_CLUSTER_CACHE)/collections/$(shell pwd | sha256sum | cut -c1-12)
RUN = source $(TESTBED)/env.sh "$(COLLECTIONS_ROOT)" &&

.PHONY: help deps images controlplane controlplane-stop lint sanity unit integration molecule test build lab lab-down bench

help:
	@echo "make lab    build the local lab and run the main job on it"
	@echo "make test   lint, sanity, unit, integration and Molecule tests (installs what it needs)"
	@echo "make build  build the collection tarball"
	@echo "make lab-down  remove the lab hosts (the control plane keeps running)"
	@echo "make bench  run the benchmarks and rewrite BENCHMARKS.md"

deps:
	@$(TESTBED)/venv.sh >/dev/null
	@$(TESTBED)/collections-path.sh "$(COLLECTIONS_ROOT)"

images:
	@$(TESTBED)/images.sh

controlplane:
	@$(TESTBED)/controlplane.sh start

controlplane-stop:
	@$(TESTBED)/controlplane.sh stop

lint: deps
	@echo "== lint: yamllint and ansible-lint (production profile)"
	@$(RUN) yamllint --strict .
	@$(RUN) ansible-lint --profile production --strict

sanity: deps
	@echo "== ansible-test sanity"
	@$(RUN) $(TESTBED)/sanity.sh

unit: deps
	@echo "== unit tests"
	@$(RUN) pytest -q -p no:cacheprovider tests/unit

integration: deps controlplane
	@echo "== integration tests against the real control plane"
	@$(RUN) pytest -q -p no:cacheprovider tests/integration

molecule: deps images controlplane
	@echo "== Molecule scenarios"
	@$(RUN) $(TESTBED)/molecule-all.sh

test:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint sanity unit integration molecule; \
	echo "== make test passed in $$(( $$(date +%s) - start )) s"

build: deps
	@$(RUN) ansible-galaxy collection build --force --output-path build/

lab: deps images controlplane
	@$(RUN) $(TESTBED)/lab.sh up

lab-down: deps
	@$(RUN) $(TESTBED)/lab.sh down

bench: deps images controlplane
	@$(RUN) tests/bench/run.sh
