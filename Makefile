# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-reliability bench bench-quick notebook notebook-run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bsg-campaigns demo

# mypy first (strict, configured in pyproject.toml): a type error fails the target before the tests run.
# Two pytest workers (pytest-xdist): most tests wait on subprocesses, HTTP or a database, so
# two workers on CI's 2 cores take ~60 % of the serial time. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m mypy pipelines/bsg_campaigns
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The full-size fault suite (2,000 campaigns at 10% faults, 12 SIGKILL trials, ...), then
# RELIABILITY.md regenerated from its results. `make test` runs a reduced form of the same suite.
# The report is written even when a proof fails (it then says FAIL and names it); the target
# fails when the suite or the report does.
test-reliability: $(STAMP)
	BSG_RELIABILITY_FULL=1 $(BIN)/python -m pytest -q tests/reliability; status=$$?; \
	$(BIN)/python tests/reliability/report.py tests/reliability/results.json > RELIABILITY.md || status=1; \
	exit $$status

# Performance benchmarks against the bundled simulator (~15 min; --quick for a small run).
# Results: benchmarks/results/results.{md,json}; see BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

# Opens the analyst notebook on the demo database (JupyterLab is installed on first use only,
# so `make test` stays lean). Headless alternative: `make notebook-run`.
notebook: $(STAMP)
	@test -f demo/bsg.duckdb || $(BIN)/bsg-campaigns demo
	@$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install --quiet jupyterlab
	cd notebooks && BSG_DUCKDB_PATH=$(CURDIR)/demo/bsg.duckdb ../$(BIN)/jupyter lab campaign_metrics.ipynb

notebook-run: $(STAMP)
	@test -f demo/bsg.duckdb || $(BIN)/bsg-campaigns demo
	cd notebooks && BSG_DUCKDB_PATH=$(CURDIR)/demo/bsg.duckdb ../$(BIN)/jupyter execute \
	  campaign_metrics.ipynb --output=$(CURDIR)/demo/campaign_metrics.ipynb
	@echo "Executed notebook with its plots: demo/campaign_metrics.ipynb"

clean:
	rm -rf $(VENV) demo .pytest_cache .hypothesis .mypy_cache
