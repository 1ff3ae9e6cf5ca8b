# Two commands on a fresh machine: `make run` serves on http://127.0.0.1:8000, `make test` tests.

# The first of Python 3.11, 3.12 and 3.13 that runs here; `make run PYTHON=python3.13` picks one.
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.13 python3,$(shell $(p) -c "" 2>/dev/null && echo $(p))))
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run prepare say key test test-fast lint bench setup clean

run: prepare
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# The database, the bundled voice and the static files, made or brought up to date.
prepare: $(VENV)/.installed
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_voices
	$(BIN)/python manage.py collectstatic --noinput -v0

# A first sound, no server needed: `make say TEXT="Hello there." OUT=hello.wav VOICE=joe`.
say: prepare
	$(BIN)/python manage.py say "$(or $(TEXT),Hello there, this is your own speech server.)" \
		-o "$(or $(OUT),say.wav)" $(if $(VOICE),--voice "$(VOICE)")

# An API key for the demo page or a client: `make key NAME="my laptop"`. Printed once.
key: $(VENV)/.installed
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py create_api_key "$(or $(NAME),$(USER),local)"

# Two test processes (pytest-xdist), each module kept in one of them: the end-to-end tests
# mostly wait on servers, so a 2-core machine runs the suite in about two thirds of the time.
TEST_PROCESSES ?= 2

# Anything for pytest goes in ARGS: `make test ARGS="-k metrics -x"`.
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile $(ARGS)

# The inner loop: everything that runs in the test processes, against the real voice and the
# real ASGI app, without starting servers or a browser (markers in pyproject.toml).
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile -m "not e2e and not browser" $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ttfa.py --start
	$(BIN)/python bench/codecs.py

setup: $(VENV)/.installed-dev

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "This needs Python 3.11, 3.12 or 3.13, not " + sys.version.split()[0] + ": make run PYTHON=python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
