# `make report` builds the whole book from raw data; `make test` runs the test suite; `make test-fast` runs
# it without the end-to-end builds, the local servers and Spark (see the markers in pyproject.toml). All
# install the exact library versions of the lock files in requirements/ (hashes checked), with uv, itself
# installed from requirements/uv.txt; `make lock` refreshes them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
DEV_LOCK := requirements/lock-dev.txt
UV_LOCK := requirements/uv.txt
# One lock for every platform and every Python the project supports (3.11 and 3.12).
LOCK_OPTIONS := --universal --python-version 3.11 --generate-hashes --quiet --custom-compile-command "make lock"
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
UV_INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python
# Every Python started from the venv (`.venv/bin/dvc` too) puts the venv's bin/ first on PATH, as
# activating it does, so the stages' `cba` commands resolve to the venv however DVC is started.
VENV_PATH_HOOK := import os, sys; os.environ["PATH"] = os.pathsep.join(dict.fromkeys(filter(None, [os.path.join(sys.prefix, "bin"), *os.environ.get("PATH", "").split(os.pathsep)])))

.PHONY: report test test-fast lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sysconfig, sys; open(sysconfig.get_path("purelib") + "/cba-venv-path.pth", "w").write(sys.argv[1] + "\n")' '$(VENV_PATH_HOOK)'

$(BIN)/uv: $(UV_LOCK) | $(BIN)/python
	$(PIP_INSTALL) --require-hashes --no-deps -r $(UV_LOCK)

# The locked libraries first, then the project itself without resolving anything again.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/uv
	$(UV_INSTALL) --require-hashes --no-deps -r $(LOCK)
	$(UV_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: $(DEV_LOCK) pyproject.toml | $(BIN)/uv
	$(UV_INSTALL) --require-hashes --no-deps -r $(DEV_LOCK)
	$(UV_INSTALL) --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

report: $(VENV)/.installed
	$(BIN)/dvc repro

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not e2e and not services and not spark"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# After a change to the dependencies in pyproject.toml: versions already locked stay unless they must
# move; `make lock LOCK_UPGRADE=--upgrade` takes the newest release of everything.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_OPTIONS) $(LOCK_UPGRADE) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(LOCK) $(LOCK_OPTIONS) $(LOCK_UPGRADE) -o $(DEV_LOCK)
	echo uv | $(BIN)/uv pip compile - $(LOCK_OPTIONS) $(LOCK_UPGRADE) -o $(UV_LOCK)

clean:
	rm -rf report/_book report/chapters/*.ipynb
