# The two set-up commands are `make run` and `make test`; the rest are conveniences.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
PYTEST_ARGS ?=
# The suite runs on this many pytest-xdist workers, each with its own PostgreSQL database and
# Redis number (tests/conftest.py); 0 runs it in one process.
PYTEST_WORKERS ?= 2
export FLASK_APP := wsgi

TEST_PG_DB ?= commerce_test
TEST_REDIS_PORT ?= 6390
export TEST_DATABASE_URL ?= postgresql+psycopg://commerce:commerce@127.0.0.1:5432/$(TEST_PG_DB)
export TEST_REDIS_URL ?= redis://127.0.0.1:$(TEST_REDIS_PORT)/0

.PHONY: run test install worker beat bench lint format services postgres redis chromium varnish haproxy demo-big

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## make run: migrate, load the demo shop (first time), print staff logins, serve on :$(PORT)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## make test: start PostgreSQL, Redis and install Chromium as needed, then the whole suite
test: install services
	$(BIN)/python -m pytest -rs -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

services: postgres redis chromium varnish haproxy

postgres:
	@command -v pg_ctlcluster >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@pg_ctlcluster 15 main status >/dev/null 2>&1 || pg_ctlcluster 15 main start
	@for i in $$(seq 1 30); do runuser -u postgres -- pg_isready -q && break; sleep 0.5; done
	@runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='commerce'" | grep -q 1 || \
		runuser -u postgres -- psql -qc "CREATE ROLE commerce LOGIN SUPERUSER PASSWORD 'commerce'"
	@runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_database WHERE datname='$(TEST_PG_DB)'" | grep -q 1 || \
		runuser -u postgres -- createdb -O commerce $(TEST_PG_DB)

redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@redis-cli -p $(TEST_REDIS_PORT) ping >/dev/null 2>&1 || \
		redis-server --port $(TEST_REDIS_PORT) --bind 127.0.0.1 --daemonize yes --save '' --appendonly no >/dev/null
	@for i in $$(seq 1 30); do redis-cli -p $(TEST_REDIS_PORT) ping >/dev/null 2>&1 && break; sleep 0.2; done

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## The edge cache (Varnish with the xkey module) and a load balancer, for the serving tests;
## wrk drives bench/edge.py
varnish:
	@{ command -v varnishd >/dev/null && ls /usr/lib/*/varnish/vmods/libvmod_xkey.so >/dev/null 2>&1 && command -v wrk >/dev/null; } || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq varnish varnish-modules wrk >/dev/null; }

haproxy:
	@command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

## make worker / beat: a real Celery worker and the periodic scheduler (need CELERY_BROKER_URL,
## e.g. redis://127.0.0.1:6379/0). `wsgi:celery` names the Celery app (`wsgi` alone would find
## the Flask app); beat keeps its schedule state in the instance folder (see commerce/config.py).
worker: install
	$(BIN)/celery -A wsgi:celery worker --loglevel=info

beat: install
	$(BIN)/celery -A wsgi:celery beat --loglevel=info

bench: install
	$(BIN)/python bench/catalog.py --quick

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
