# Two commands: `make test` and `make demo`. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install test test-distributed soak demo lock clean bench

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Installs exactly the versions in uv.lock (the ones the tests passed with).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra test --python $(PYTHON)
	touch $@

install: $(VENV)/.synced

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Only the distributed run (also part of `make test`): docker-compose.yaml's services as local processes.
test-distributed: install
	$(VENV)/bin/pytest -m distributed -s $(PYTEST_ARGS)

# Long load runs, not part of `make test`: ten queued 48-chunk deliveries (IMPORTIO_SOAK=10x48x1).
soak: install
	$(VENV)/bin/pytest -m soak -s tests/soak $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/python scripts/demo.py

lock: | $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache

# Benchmarks against baselines (not part of `make test`): BENCH_ARGS="--quick" or names, e.g. "statistics".
bench: install
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)
