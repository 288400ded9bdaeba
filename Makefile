# digit-recognizer: `make run` starts the whole service, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv lock run test test-fast bench lint format migrate train train-classifiers train-reader \
	evaluate screenshots clean

venv: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --config-settings editable_mode=compat -e .
	touch $@

# The pins live in pyproject.toml; the locks (every package, with hashes, no download addresses)
# are made from them by uv. After changing a pin: make lock, then commit both files.
lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml -q --generate-hashes --python-version 3.11 \
		--custom-compile-command "make lock" -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml -q --extra dev --generate-hashes --python-version 3.11 \
		--custom-compile-command "make lock" -o requirements-dev.lock

run: venv  ## migrate, then start web, workers, beat and Flower (embedded Redis/SQLite by default)
	$(PY) -m scripts.run

test: venv  ## the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set) + coverage
	$(PY) -m pytest --cov --cov-report=term --durations=15 $(PYTEST_ARGS)

test-fast: venv  ## the inner loop: no browser, no slow end-to-end tests
	$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

screenshots: venv  ## refresh docs/screenshots from a real browser run (on purpose, never by make test)
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

bench: venv  ## recognizer + service benchmarks, figures printed as tables
	$(PY) -m bench

migrate: venv
	$(PY) -m scripts.migrate

# MNIST: DATA=path, else $$DIGITS_MNIST, else the copy `digits data fetch` made (see README).
# The shipped model's whole recipe, into OUT: the classifiers, then the touching-digit
# detector, temperature and review threshold (calibrate); beside them, as a second job, the
# pair reader (pairs; MNIST train 50,000-59,999 held out for validation), which does not
# depend on the classifiers and so fills the core they leave idle; then the reader is given
# to the model and the test figures are recorded. `digits train` alone makes a model that
# never splits touching digits.
OUT ?= models
DATA_OPT = $(if $(DATA),--data $(DATA))
READER = $(OUT)/.pair-reader
train: venv
	$(MAKE) --no-print-directory -j2 train-classifiers train-reader
	$(VENV)/bin/digits pairs $(DATA_OPT) --model $(OUT)/digits.skops --from $(READER)
	rm -r $(READER)
	$(VENV)/bin/digits evaluate $(DATA_OPT) --model $(OUT)/digits.skops --record

train-classifiers: venv
	$(VENV)/bin/digits train $(DATA_OPT) --out $(OUT)
	$(VENV)/bin/digits calibrate $(DATA_OPT) --model $(OUT)/digits.skops

train-reader: venv
	$(VENV)/bin/digits pairs $(DATA_OPT) --out $(READER) --digits 50000

evaluate: venv
	$(VENV)/bin/digits evaluate $(DATA_OPT)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
