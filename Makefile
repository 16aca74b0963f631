# The local lakehouse: `make all` runs the whole pipeline for DATE, `make test` the test suite.
# Every target calls the venv's binaries directly; `make setup` builds the venv on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DATE ?= $(shell date -u +%F)
SF ?= 1
RUNS ?= 3
# `make bench LAKE=s3` adds steps 1 and 2 with the lake on a local S3 server; SPARK=0 leaves Spark out.
LAKE ?= local
SPARK ?= 1
FORMAT ?= parquet
TARGET ?= lakehouse
DOCS_PORT ?= 8080
# backfill range, YYYY-MM-DD, both days included; EVOLVE=1 sets the demo source to each day's state first.
FROM ?=
TO ?=
# make bench-history: how many consecutive days it loads.
DAYS ?= 30
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS="-m northwind".
PYTEST_ARGS ?=
# Optional: a real dump to (re)load into the source, and the CSV to extract.
NORTHWIND_SQL ?=
ORDER_DETAILS_CSV ?=
# make seed into a source of yours (SOURCE_DSN, PG*): its address, host:port/dbname, as make seed prints it.
SEED_INTO ?=

# Airflow lives in a venv of its own (its dependency tree never meets the project's), its home in .airflow/.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
AIRFLOW := $(AIRFLOW_VENV)/bin/python orchestration/airflow_ctl.py

SEED_ARGS := --scale $(SF) $(if $(NORTHWIND_SQL),--northwind-sql $(NORTHWIND_SQL))
CSV_ARGS := $(if $(ORDER_DETAILS_CSV),--csv "$(ORDER_DETAILS_CSV)") --format $(FORMAT)

.PHONY: help setup all backfill seed extract load spark-cluster spark-cluster-stop export status ledger-rebuild server stop psql docs airflow airflow-test airflow-backfill airflow-stop cron bench bench-history test test-spark test-airflow test-browser test-all lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

# uv (pinned in pyproject.toml) installs the rest, several times faster than pip, compiled to
# bytecode as pip does: every dbt process would otherwise compile its imports again (3 s).
# The project is installed editable; its dbt plugin (plugin/) as a copy, so dbt finds it.
$(STAMP): pyproject.toml plugin/pyproject.toml plugin/dbt_lakehouse.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$$(grep -o 'uv==[0-9.]*' pyproject.toml)"
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[dev]' ./plugin
	mkdir -p data
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the pinned packages

# The spark target's packages (pyspark, dbt-spark, a Java runtime): for make test-spark, make bench
# and make load TARGET=spark; make all and make test do not need them.
SPARK_STAMP := $(VENV)/.spark-installed
$(SPARK_STAMP): pyproject.toml $(STAMP)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[dev,spark]'
	touch $(SPARK_STAMP)

all: setup ## the whole pipeline for DATE (default today, UTC): seed the embedded demo if empty (a SOURCE_DSN is only read), extract, load, export
	$(PY) -m extract run --date $(DATE) $(SEED_ARGS) $(CSV_ARGS)

backfill: setup ## the whole pipeline for each day FROM..TO; a failed day does not stop the others
	$(PY) -m extract backfill --from $(FROM) --to $(TO) $(if $(filter 1,$(EVOLVE)),--evolve) $(SEED_ARGS) $(CSV_ARGS)

seed: setup ## regenerate the demo source at scale SF (or load NORTHWIND_SQL); SEED_INTO=host:port/dbname writes a SOURCE_DSN of yours
	$(PY) -m extract seed --force $(SEED_ARGS) $(if $(SEED_INTO),--into "$(SEED_INTO)")

extract: setup ## step 1 for DATE: source tables and CSV into data/
	$(PY) -m extract extract --date $(DATE) $(CSV_ARGS)

load: setup $(if $(filter spark,$(TARGET)),$(SPARK_STAMP)) ## step 2 for DATE: dbt build into the warehouse (TARGET=lakehouse|postgres|spark)
	$(PY) -m extract load --date $(DATE) --target $(TARGET)

spark-cluster: setup $(SPARK_STAMP) ## a Spark master and two workers on 127.0.0.1 (then LAKEHOUSE_SPARK_MASTER=spark://127.0.0.1:7077)
	$(PY) -m extract spark-cluster start

spark-cluster-stop: setup ## stop the Spark master and workers of make spark-cluster
	$(PY) -m extract spark-cluster stop

export: setup ## write data/exports/DATE/orders_with_details.{csv,json}
	$(PY) -m extract export --date $(DATE)

status: setup ## what succeeded and failed, per date and step (DATE= for one date)
	$(PY) -m extract status $(if $(filter command line,$(origin DATE)),--date $(DATE))

ledger-rebuild: setup ## a lost ledger's step-1 entries again, from the lake's manifests (never replaces an entry)
	$(PY) -m extract ledger rebuild

server: setup ## start the embedded PostgreSQL
	$(PY) -m extract server start

stop: setup ## stop the embedded PostgreSQL
	$(PY) -m extract server stop

psql: setup ## open psql on the warehouse
	$(PY) -m extract psql warehouse

docs: setup ## generate the dbt docs and serve them on 127.0.0.1:DOCS_PORT
	$(PY) -m extract docs --date $(DATE) --port $(DOCS_PORT)

$(AIRFLOW_STAMP): orchestration/requirements-airflow.txt $(STAMP)
	UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv venv --quiet --allow-existing --python $(PYTHON) $(AIRFLOW_VENV)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(AIRFLOW_VENV)/bin/python -r orchestration/requirements-airflow.txt
	touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP) ## Airflow's scheduler and UI on 127.0.0.1:8081, DAG "lakehouse" on, daily (seeds an empty embedded source)
	$(PY) -m extract seed $(SEED_ARGS)
	$(AIRFLOW) start

airflow-test: $(AIRFLOW_STAMP) ## one run of the DAG for DATE in this process (airflow dags test), no scheduler needed
	$(PY) -m extract seed $(SEED_ARGS)
	$(AIRFLOW) test $(DATE)

airflow-backfill: $(AIRFLOW_STAMP) ## one DAG run per day FROM..TO through the scheduler, one at a time; waits for them
	$(if $(and $(FROM),$(TO)),,$(error make airflow-backfill needs FROM=YYYY-MM-DD TO=YYYY-MM-DD))
	$(PY) -m extract seed $(SEED_ARGS)
	$(AIRFLOW) backfill $(FROM) $(TO)

airflow-stop: ## stop Airflow's scheduler, DAG processor and API server
	-test -x $(AIRFLOW_VENV)/bin/python && $(AIRFLOW) stop

cron: setup ## print the crontab lines that run the whole pipeline every day at 02:00 UTC (for a machine without Airflow)
	@$(PY) -m extract cron

bench: setup $(SPARK_STAMP) ## benchmark at scale SF (SF="1 10 100 1000 10000" for the scaling plot; LAKE=s3 adds S3): bench/results/
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[dev,bench,spark]'
	$(PY) -m bench.run --sf $(SF) --runs $(RUNS) --lake $(LAKE) $(if $(filter 0,$(SPARK)),--no-spark)
	$(PY) -m bench.plot

bench-history: setup ## history's cost as days accumulate: DAYS (default 30) evolving demo days at SF, loaded in turn: bench/results/
	$(PY) -m bench.history --sf $(SF) --days $(DAYS)

# make test runs two workers (pytest-xdist), each a whole test file at a time, so a file's
# servers start once; TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

test: setup ## the test suite of what make all installs (starts its own PostgreSQL); NORTHWIND_SQL and ORDER_DETAILS_CSV add the real-dump tests
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-spark: setup $(SPARK_STAMP) ## the spark target's tests (installs pyspark, dbt-spark and a Java runtime)
	$(VENV)/bin/pytest -m spark $(PYTEST_ARGS)

test-airflow: setup $(AIRFLOW_STAMP) ## the Airflow tests (installs Airflow in its own venv)
	$(VENV)/bin/pytest -m airflow $(PYTEST_ARGS)

test-browser: setup ## the tests that drive headless Chromium (needs Debian's chromium)
	$(VENV)/bin/pytest -m browser $(PYTEST_ARGS)

test-all: setup $(SPARK_STAMP) $(AIRFLOW_STAMP) ## every test: the suite, spark, Airflow and the browser (needs chromium; what .ci/run runs)
	$(VENV)/bin/pytest -m "" $(PYTEST_ARGS)  # an empty -m lifts the default selection

lint: setup ## ruff on the Python code, sqlfluff on the dbt models
	$(VENV)/bin/ruff check extract tests bench plugin
	$(VENV)/bin/ruff format --check extract tests bench plugin
	$(VENV)/bin/sqlfluff lint dbt_project/models

clean: ## stop the servers, remove the venv, the lake and the servers' data
	-test -x $(PY) && $(PY) -m extract server stop
	-test -x $(PY) && $(PY) -m extract spark-cluster stop
	-$(MAKE) airflow-stop
	rm -rf $(VENV) $(AIRFLOW_VENV) .airflow .pgdata .spark-cluster data/* dbt_project/target dbt_project/logs logs
	touch data/.gitkeep
