# Haven — the two commands a newcomer needs: `make run` and `make test`.
# Every target installs what it needs first (a Python 3.10 virtualenv in .venv/).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HAVEN := $(VENV)/bin/haven
STAMP := $(VENV)/.installed-stamp
# pip itself is upgraded at creation (a venv starts with the interpreter's old copy);
# setuptools stays at the version rasa 3.6.21 pins (70.3.x): see README "Known advisories".
PIP_VERSION := 26.3
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export RASA_TELEMETRY_ENABLED ?= false

.PHONY: help install run train test test-unit lint format catalogs services bench bench-channels bench-directory bench-nlu bench-crisis bench-languages bench-handoff tune-danger browser lock clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(PY) ]; then \
	  python=$$(scripts/find-python310) || exit 1; \
	  echo "Creating $(VENV) with $$python"; \
	  "$$python" -m venv $(VENV); \
	  $(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==$(PIP_VERSION)"; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -c constraints.txt -e '.[dev]'
	$(PY) -m pip check
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv with the pinned environment (Python 3.10)

train: install  ## Train the model if data, domain or config changed
	$(HAVEN) train

run: install  ## Start Haven (trains first if needed); Ctrl-C stops it
	$(HAVEN) run

lint: install  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install  ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install browser services lint  ## Lint, train if needed, then every test (unit, validation, e2e, integration, browser)
	$(HAVEN) train
	$(VENV)/bin/pytest

browser:  ## Headless Chromium for the web chat's tests (installed from Debian when root and missing)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium chromium-driver >/dev/null \
	    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
	    || echo "WARNING: could not install chromium: the web chat's browser tests will be skipped"; \
	else \
	  echo "chromium and chromedriver are missing: the web chat's browser tests will be skipped (see README)"; \
	fi

services:  ## PostgreSQL and Redis binaries for the scale-out tests (Debian packages, when root and missing)
	@if command -v redis-server >/dev/null && { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing redis-server and postgresql (Debian packages) for the scale-out tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q redis-server postgresql >/dev/null \
	    || { apt-get update -q >/dev/null && apt-get install -y -q redis-server postgresql >/dev/null; } \
	    || echo "WARNING: could not install redis-server/postgresql: the scale-out tests will be skipped"; \
	else \
	  echo "redis-server or PostgreSQL is missing: the scale-out tests will be skipped (see README)"; \
	fi

test-unit: install  ## Only the fast tests (no trained model needed)
	$(VENV)/bin/pytest -m "not integration"

catalogs: install  ## Extract strings to locales/haven.pot, update and compile every .po
	$(VENV)/bin/pybabel extract -F babel.cfg --sort-by-file --no-wrap \
	  --project=Haven --copyright-holder="Haven contributors" -o locales/haven.pot .
	$(VENV)/bin/pybabel update --no-wrap -D haven -i locales/haven.pot -d locales
	$(VENV)/bin/pybabel compile -D haven -d locales --statistics

bench: install services  ## Load on the full stack (SQLite; PostgreSQL + Redis) vs bare `rasa init`; channels, directory, languages, handoff
	$(HAVEN) train
	$(PY) -m scripts.bench
	$(PY) -m scripts.bench_channels
	$(PY) -m scripts.bench_directory
	$(PY) -m scripts.bench_languages
	$(PY) -m scripts.bench_handoff

bench-handoff: install  ## Live handoff relay latency: user → console and console → user
	$(HAVEN) train
	$(PY) -m scripts.bench_handoff

bench-channels: install  ## Per-message latency through the web chat and Telegram next to REST
	$(HAVEN) train
	$(PY) -m scripts.bench_channels

bench-directory: install  ## Import throughput and search p50/p95 on a generated directory (SERVICES=10000)
	$(PY) -m scripts.bench_directory --services $(or $(SERVICES),10000)

bench-crisis: install  ## Danger/disclosure recall and false alarms on the held-out set
	$(HAVEN) train
	$(PY) -m scripts.bench_crisis

tune-danger: install  ## Danger model thresholds by cross-validation on data/safety (prints, changes nothing)
	$(PY) -m scripts.tune_danger

bench-languages: install  ## Language detection accuracy; latency added by offline translation
	$(PY) -m scripts.bench_languages

bench-nlu: install  ## Cross-validated intent F1 per language
	$(PY) -m scripts.bench_nlu

lock: install  ## Re-pin constraints.txt from the current environment
	@( echo "# The whole environment, pinned: pip install -c constraints.txt . resolves the same way on every machine."; \
	   echo "# Regenerate with: make lock (after changing dependencies in pyproject.toml)."; \
	   $(PY) -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' ) > constraints.txt

clean:  ## Remove the virtualenv, trained models and caches (keeps var/ data)
	rm -rf $(VENV) models .rasa .ruff_cache
