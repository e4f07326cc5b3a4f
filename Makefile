# The everyday verbs. `make run` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test e2e fuzz lint fmt install install-dev clean-db messages up-local

# Installs again only when a requirements file changed.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.env:
	cp .env.example .env

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py recompute_contribution
	$(PY) manage.py generate_follow_ups
	$(PY) manage.py refresh_account_health
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed-dev .env
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Only the real-browser tests (Playwright driving /usr/bin/chromium); `make test` runs them too.
e2e: $(VENV)/.installed-dev .env
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

# Schemathesis against gunicorn on a throwaway PostgreSQL database (127.0.0.1:5432, user
# postgres), every API operation as rep1 and as manager; .ci/run runs it too.
fuzz: $(VENV)/.installed-dev
	.ci/fuzz_api.sh

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The docker-compose topology without Docker: a fresh database on this machine's PostgreSQL,
# a Redis db of its own, gunicorn + Celery worker + Celery beat; beat fires one nightly run,
# gunicorn must serve it; then everything stops and the database is dropped (bin/up-local).
up-local: $(VENV)/.installed
	$(PY) bin/up-local $(UP_LOCAL_ARGS)

clean-db:
	rm -f db.sqlite3

# Refresh the zh-hans catalogue after changing strings; commit the .po and .mo files.
messages: $(VENV)/.installed-dev
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=tests --ignore=bench
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv
