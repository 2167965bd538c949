# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast notebook clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bsg-campaigns demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

notebook: $(STAMP)
	@test -f demo/bsg.duckdb || $(BIN)/bsg-campaigns demo
	$(BIN)/python -m jupyter notebook notebooks/campaign_metrics.ipynb 2>/dev/null || \
	  $(BIN)/python -m nbclient --help >/dev/null 2>&1; \
	  echo "Open notebooks/campaign_metrics.ipynb in Jupyter or VS Code (kernel: $(BIN)/python)."

clean:
	rm -rf $(VENV) demo .pytest_cache .hypothesis
