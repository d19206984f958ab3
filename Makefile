# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATE ?= 20261124
DEMO_DIR := var/demo

# Every install is pinned by constraints.txt (the whole dependency set, Airflow included);
# `make constraints` refreshes it (README.md, "Dependencies").
CONSTRAINTS := constraints.txt

.PHONY: demo test lint typecheck unit distributed test-distributed distributed-demo system-deps airflow bench clean constraints

$(BIN)/crm-pipeline: setup.cfg $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --upgrade pip wheel setuptools
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test,airflow]'
	touch $@

# Re-resolve the newest versions setup.cfg allows and freeze them into constraints.txt.
constraints:
	bash .ci/constraints.sh $(PYTHON)

demo: $(BIN)/crm-pipeline
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/crm-pipeline sample --out $(DEMO_DIR)/landing --date $(DEMO_DATE) --customers 2000 --seed 7
	$(BIN)/crm-pipeline run --date $(DEMO_DATE) --mode initial --landing $(DEMO_DIR)/landing \
	    --warehouse sqlite:///$(DEMO_DIR)/warehouse.db --staging $(DEMO_DIR)/staging; \
	    status=$$?; [ $$status -eq 0 ] || [ $$status -eq 3 ] || exit $$status

# The servers the tests run against (OpenSSH sshd, PostgreSQL) come from Debian packages.
system-deps:
	bash .ci/install-system-deps.sh

# The layers of docs/architecture.md (.importlinter) and the size of a module are checked
# with the style, so the structure cannot rot.
lint: $(BIN)/crm-pipeline
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python .ci/file_sizes.py
	$(BIN)/ruff format --check common crm_pipeline extract transform load dags tests bench

typecheck: $(BIN)/crm-pipeline
	$(BIN)/mypy

unit: $(BIN)/crm-pipeline
	bash .ci/pytest.sh

# Airflow on the CeleryExecutor with two workers, Redis, PostgreSQL and SeaweedFS
# (docs/scale-out.md): the `distributed` tests, outside the main run (.ci/pytest.sh) for time.
distributed: $(BIN)/crm-pipeline
	$(BIN)/python -m pytest -m distributed -p no:cacheprovider tests/distributed

test-distributed: system-deps distributed

distributed-demo: $(BIN)/crm-pipeline system-deps
	$(BIN)/python -m bench.distributed_demo

test: system-deps lint typecheck unit distributed

airflow: $(BIN)/crm-pipeline
	bash .ci/airflow-standalone.sh

clean:
	rm -rf $(VENV) var build *.egg-info
