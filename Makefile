# The README's commands. Everything installs from the package registries: the project and Dagster into .venv, dbt into .venv-dbt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# dbt has an environment of its own (dbt_project/requirements.txt); Dagster runs its executable
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed-stamp

.PHONY: install demo test ui worker lint db-start db-stop db-status benchmark clean

$(DBT_STAMP): dbt_project/requirements.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/python -m pip install --quiet -r dbt_project/requirements.txt
	touch $(DBT_STAMP)

$(STAMP): pyproject.toml $(DBT_STAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m resources.dbt
	touch $(STAMP)

install: $(STAMP)

demo: install ## set up everything and materialize the default pipeline headless
	$(BIN)/swiftbolt demo

test: install ## the whole suite against a real PostgreSQL (embedded unless SWIFTBOLT_TEST_DATABASE_URL)
	$(BIN)/python -m pytest

PORT ?= 3000

ui: install ## Dagster webserver + daemon + code server on the project's instance: make ui [PORT=3401]
	$(BIN)/swiftbolt ui --port $(PORT)

QUEUES ?= market_data_provider,compute
worker: install ## a Celery worker for SWIFTBOLT_EXECUTOR=celery: make worker [QUEUES=compute] [CONCURRENCY=4]
	$(BIN)/swiftbolt worker --queues $(QUEUES) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY))

lint: install
	$(BIN)/ruff check .

db-start db-stop db-status: install
	$(BIN)/swiftbolt db $(subst db-,,$@)

benchmark: install
	$(BIN)/python benchmarks/ingest_bars.py

clean:
	-$(BIN)/swiftbolt db stop
	rm -rf .swiftbolt .dagster_home
