# digit-recognizer: `make run` starts the whole service, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv run test bench lint format migrate train evaluate screenshots clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --config-settings editable_mode=compat -e .
	touch $@

run: venv  ## migrate, then start web, workers, beat and Flower (embedded Redis/SQLite by default)
	$(PY) -m scripts.run

test: venv  ## the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv  ## recognizer + service benchmarks, figures printed as tables
	$(PY) -m bench

migrate: venv
	$(PY) -m scripts.migrate

# MNIST: DATA=path, else $$DIGITS_MNIST, else the copy `digits data fetch` made (see README).
train: venv
	$(VENV)/bin/digits train $(if $(DATA),--data $(DATA)) --out models/

evaluate: venv
	$(VENV)/bin/digits evaluate $(if $(DATA),--data $(DATA))

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
