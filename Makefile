# Two commands matter: `make run` (set up, serve the demo) and `make test` (set up, run every test).
# Each target installs what it needs, so both work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: setup run test test-unit test-server test-browser lint chromium redis vendor screenshots bench dist clean

setup: $(VENV)/.installed static/vendor/.installed

$(VENV)/.installed: requirements/dev.txt requirements/browser.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

static/vendor/.installed: $(VENV)/.installed node_modules/.package-lock.json tools/vendor.py requirements/browser.txt
	$(PY) tools/vendor.py
	touch $@

vendor:
	rm -f static/vendor/.installed
	$(MAKE) static/vendor/.installed

run: setup
	$(PY) -m server --host $(HOST) --port $(PORT)

# Debian's Chromium drives the browser tests (Playwright cannot download browsers here);
# Debian's redis-server backs the scale-out tests.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

redis:
	@command -v redis-server >/dev/null || { \
	  echo "installing Debian's redis-server"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Two pytest runs: Playwright's sync API keeps an event loop running in its worker
# process, which the async (anyio) server and client tests cannot share.
test: setup chromium redis
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests --ignore=tests/browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests/browser

test-unit: setup
	$(PY) -m pytest tests/unit

test-server: setup redis
	$(PY) -m pytest tests/server

test-browser: setup chromium
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests/browser

# The page as a static site for any static host (docs/hosting.md), with the widget loader.
dist: setup
	$(PY) tools/dist.py

screenshots: setup chromium
	$(PY) tools/screenshots.py

bench: setup chromium redis
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) node_modules static/vendor dist
