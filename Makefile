# One entry point for the embedded platform. `make up` installs what is missing and starts
# everything; `make test` does the same, then runs the suite. See README.md.
SHELL := /bin/bash
VENV  ?= $(CURDIR)/.venv
PY    := $(VENV)/bin/python
export PYTHONUNBUFFERED := 1
# The stack's shape (carpipe/config.py PROFILES): embedded (one node each) or cluster (multi-node engines).
PROFILE ?= $(or $(CARPIPE_PROFILE),embedded)
export CARPIPE_PROFILE := $(PROFILE)
CTL   := $(PY) -m stack.ctl

# What the cluster profile's run of the suite covers (make test-cluster): the platform's checks of every
# node, the end-to-end pipeline (with Airflow's own processes failing) and the node failures, in this
# order (the disruptive ones last, the e2e test before the engines' faults, which the platform's own
# runs, going on meanwhile, take a window to recover from); the rest does not depend on the stack's
# shape and runs on the embedded profile.
CLUSTER_TESTS ?= tests/platform/test_services.py tests/platform/test_secrets.py tests/platform/test_group_lag.py tests/dags/test_pipeline_e2e.py tests/cluster

.PHONY: install up down status logs clean distclean test test-embedded test-cluster unit bench constraints urls airflow

install:                ## install apt packages, the virtualenv and the JVM jars (idempotent)
	@bash stack/install.sh

up: install             ## start Kafka, HDFS, InfluxDB, Airflow and the generator; wait until healthy (PROFILE=cluster: multi-node)
	@$(CTL) up

down:                   ## stop every service, keep the data
	@if [ -x $(PY) ]; then $(CTL) down; fi

status:                 ## health of each service
	@$(CTL) status

logs:                   ## follow all service logs
	@$(CTL) logs

urls:
	@$(CTL) urls

clean: down             ## wipe service data on purpose (keeps the venv and jars)
	@$(CTL) clean

distclean: clean        ## also remove the venv and the jars
	rm -rf $(VENV) .state

test: install           ## both profiles in turn: test-embedded, then test-cluster (what CI runs)
	@$(MAKE) --no-print-directory test-embedded
	@$(MAKE) --no-print-directory test-cluster

test-embedded: install  ## the embedded stack (stops the cluster profile's): up if needed, the whole suite
	@$(MAKE) --no-print-directory down PROFILE=cluster
	@$(MAKE) --no-print-directory up PROFILE=embedded
	@CARPIPE_PROFILE=embedded $(PY) -m pytest

test-cluster: install   ## the cluster profile (stops the embedded stack): up if needed, CLUSTER_TESTS on it
	@$(MAKE) --no-print-directory down PROFILE=embedded
	@$(MAKE) --no-print-directory up PROFILE=cluster
	@CARPIPE_PROFILE=cluster $(PY) -m pytest $(CLUSTER_TESTS)

unit: install           ## fast tests that need no service
	@$(PY) -m pytest -m "not integration"

bench: up               ## benchmarks with printed tables (baselines measured in the same run)
	@$(PY) -m tests.bench

airflow:                ## run the Airflow CLI against the embedded stack: make airflow ARGS="dags list"
	@$(PY) -m stack.ctl airflow $(ARGS)

constraints:            ## record the resolved package set as constraints.txt
	@$(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
