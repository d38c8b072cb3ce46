# ALOR Studio: `make app` opens the dashboard on the demo world, `make test` runs the tests.
PY ?= python3
export HF_HUB_OFFLINE := 1

.PHONY: install install-dev demo app lint test test-fast

install:
	bash scripts/install.sh

install-dev:
	bash scripts/install.sh --dev

demo: install            ## build the offline demo world (~2-4 min on 2 cores, cached)
	$(PY) -m alor_core demo build

app: install             ## open the dashboard (it builds the demo world on first use)
	$(PY) -m streamlit run app.py --browser.gatherUsageStats=false

lint:                    ## ruff: lint and format check (pyproject.toml [tool.ruff])
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: install-dev        ## lint, then every test, browser tests included
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q

test-fast:               ## unit tests only, no install
	$(PY) -m pytest -q -m "not e2e and not slow"
