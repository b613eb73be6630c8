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

.PHONY: help deps images controlplane controlplane-stop lint sanity unit integration molecule system test build lab lab-down bench

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

# Integration tests run in lanes (tests/testbed/lanes.sh); LANES in
# tests/conftest.py says which tests may share the test bed at the same time.
# The lane "alone" stops the kube-apiserver for a moment: it runs by itself.
# EDGE_LANE_JOBS lanes run at once: all three by default. One lane alone keeps
# 2 cores about 60 % busy (the rest is waiting: boots, Ready, CloudCore); three
# at once keep them busy, so the stage ends sooner although each test is
# slower. EDGE_LANE_JOBS=1 runs them one after the other (easier to read).
EDGE_LANE_JOBS ?= 3
export EDGE_LANE_JOBS
PYTEST_LANE = pytest -q -p no:cacheprovider tests/integration --lane
# The Molecule scenarios each lane runs after its tests (`make system`): a
# scenario joins the lane whose tests use the same shared objects.
MOLECULE_cloud := cloudcore
MOLECULE_edge := edgenode reset
MOLECULE_api := superedge smoke

integration: deps controlplane
	@echo "== integration tests against the real control plane (lanes cloud, edge, api, $(EDGE_LANE_JOBS) at a time; then alone)"
	@$(RUN) $(TESTBED)/lanes.sh $(foreach l,cloud edge api,$(l) "$(PYTEST_LANE) $(l)")
	@$(RUN) $(PYTEST_LANE) alone

molecule: deps images controlplane
	@echo "== Molecule scenarios"
	@$(RUN) $(TESTBED)/molecule-all.sh

# Integration and Molecule together: each lane runs its tests, then its scenarios.
system: deps images controlplane
	@echo "== integration tests and Molecule scenarios (lanes cloud, edge, api, $(EDGE_LANE_JOBS) at a time; then alone)"
	@scenarios="$$(ls molecule/*/molecule.yml | cut -d/ -f2 | sort | xargs)"; \
	laned="$$(echo $(MOLECULE_cloud) $(MOLECULE_edge) $(MOLECULE_api) | tr ' ' '\n' | sort | xargs)"; \
	[ "$$scenarios" = "$$laned" ] || { echo "Molecule scenarios $$scenarios, but the lanes run $$laned: give each scenario a lane in the Makefile" >&2; exit 1; }
	@$(RUN) $(TESTBED)/lanes.sh $(foreach l,cloud edge api,$(l) "$(PYTEST_LANE) $(l) && $(TESTBED)/molecule-all.sh $(MOLECULE_$(l))")
	@$(RUN) $(PYTEST_LANE) alone

test:
	@start=$$(date +%s); \
	for stage in lint sanity unit system; do \
	  t=$$(date +%s); \
	  $(MAKE) --no-print-directory $$stage; \
	  echo "== stage $$stage passed in $$(( $$(date +%s) - t )) s"; \
	done; \
	echo "== make test passed in $$(( $$(date +%s) - start )) s"

build: deps
	@$(RUN) ansible-galaxy collection build --force --output-path build/

lab: deps images controlplane
	@$(RUN) $(TESTBED)/lab.sh up

lab-down: deps
	@$(RUN) $(TESTBED)/lab.sh down

bench: deps images controlplane
	@$(RUN) tests/bench/run.sh
