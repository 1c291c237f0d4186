# The README's two commands: `make demo` (the whole job on DuckDB) and `make test`. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TARGET ?= duckdb
ASSETS := expectations/docs_assets

.PHONY: demo test lint pytest faults bench docs schema clean venv browser spark

venv: $(VENV)/.installed $(ASSETS)/node_modules/.installed

## The scripts and styles GX Data Docs load from CDNs, as npm packages pinned by package-lock.json, so the pages
## work offline (ingestion/quality/docs_assets.py); Debian's npm is installed with apt when missing.
$(ASSETS)/node_modules/.installed: $(ASSETS)/package.json $(ASSETS)/package-lock.json
	@command -v npm >/dev/null || { echo "venv: installing Debian's npm (apt-get) ..."; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends npm >/dev/null; }
	@cd $(ASSETS) && npm ci --ignore-scripts --no-audit --no-fund --silent
	@touch $@
	@echo "venv: GX Data Docs assets installed under $(ASSETS)/node_modules (npm ci)"

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "venv: creating $(VENV) and installing pinned dependencies (constraints.txt) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@
	@$(BIN)/python -c "from importlib.metadata import version as v; print('venv: ready:', ', '.join(f'{p} {v(p)}' for p in ('dlt', 'dbt-core', 'dbt-duckdb', 'dbt-postgres', 'great-expectations', 'duckdb')))"

## The spark target's optional extra (dbt-spark's session method and pyspark, which carries Spark's jars) and a
## Java runtime (Debian's openjdk-17-jre-headless, installed with apt when `java` is missing).
$(VENV)/.installed-spark: $(VENV)/.installed
	@command -v java >/dev/null || { echo "spark: installing Debian's openjdk-17-jre-headless (apt-get) ..."; \
	  mkdir -p logs; { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends openjdk-17-jre-headless; } >logs/apt-java.log 2>&1 || { cat logs/apt-java.log; exit 1; }; }
	@echo "spark: installing the spark extra (dbt-spark, pyspark: about 450 MB) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,spark]'
	@touch $@
	@$(BIN)/python -c "from importlib.metadata import version as v; print('spark: ready:', ', '.join(f'{p} {v(p)}' for p in ('dbt-spark', 'pyspark')))"
	@java -version 2>&1 | head -1 | sed 's/^/spark: java: /'

spark: $(VENV)/.installed-spark

## The main job end to end: sample publication -> bronze (dlt) -> silver/gold (dbt build) -> docs, with a summary.
## `make demo TARGET=spark` installs the spark extra first.
demo: venv $(if $(filter spark,$(TARGET)),spark)
	$(BIN)/python -m ingestion demo --target $(TARGET)

## Lint, then every test on DuckDB and PostgreSQL (CI=true turns a missing PostgreSQL or chromium into a failure).
test: venv spark browser lint pytest

## Debian's chromium, which the browser tests drive headless through Playwright (tests/python/test_pages.py):
## installed with apt when missing (as root, or through sudo). Playwright's own browser download is never used.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { echo "browser: installing Debian's chromium (apt-get) ..."; \
	  mkdir -p logs; { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends chromium; } >logs/apt-chromium.log 2>&1 || { cat logs/apt-chromium.log; exit 1; }; \
	  echo "browser: chromium $$(dpkg-query -W -f='$${Version}' chromium) installed (apt's log: logs/apt-chromium.log)"; }

## Formatting, lint and types (mypy reads its settings and the files it checks from pyproject.toml), then SQL.
lint: venv
	$(BIN)/ruff format --check ingestion tests
	$(BIN)/ruff check ingestion tests
	$(BIN)/mypy
	DUCKDB_PATH=:memory: $(BIN)/sqlfluff lint models snapshots tests/*.sql --disable-progress-bar  # tests/generic: macros, below
	$(BIN)/sqlfluff lint macros tests/generic --templater jinja --disable-progress-bar

pytest: venv
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadgroup

## The fault matrix alone (bad inputs and real faults, DuckDB and PostgreSQL), then its table: case, engine,
## outcome, rows lost, rows duplicated, ledger recorded, rerun = clean run. `make test` runs the same cases.
faults: venv
	@rm -rf target/faults
	@$(BIN)/python -m pytest -m faults -n auto --maxprocesses 4 --dist loadgroup -q; status=$$?; \
	  $(BIN)/python tests/python/faultkit.py target/faults; exit $$status

## Load one full-size period (about 1.4 million CSV rows) and compare with DuckDB's own read_csv. TARGET=spark:
## four full-size periods into the lake, then dbt build on local[2] and on a two-worker cluster (bench_spark.py).
bench: venv $(if $(filter spark,$(TARGET)),spark)
	$(BIN)/python -m ingestion.devtools.$(if $(filter spark,$(TARGET)),bench_spark,bench)

## Rewrite the files generated from the code: the JSON Schemas editors complete the configs from
## (publications.schema.json, servicedesk.schema.json; after a change to ingestion/sources/*/schema.py) and the dbt
## seed of run statuses (seeds/run_statuses.csv; after a change to RunStatus in ingestion/status.py). Tests check
## that each is in step.
schema: venv
	$(BIN)/python -c "from ingestion.sources.publications.schema import write_schema; print('schema: wrote', write_schema())"
	$(BIN)/python -c "from ingestion.sources.servicedesk.schema import write_schema; print('schema: wrote', write_schema())"
	$(BIN)/python -c "from ingestion.status import write_seed; print('schema: wrote', write_seed())"

docs: venv
	$(BIN)/dbt docs generate --static --target $(TARGET)
	@echo "docs: open target/static_index.html"

clean:
	rm -rf target logs .state .bench data/warehouse.duckdb
