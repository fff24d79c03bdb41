# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test test-fast lint format bench-sandbox bench-sync bench-sync-overlap bench-bulk bench-table bench-table-live bench-personal-data bench-freshness bench-recordings bench-lighthouse clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamps make a second run skip the install unless the lock file changed.
$(VENV)/.runtime-installed: requirements.lock | $(PY)
	$(PIP) install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock | $(PY)
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.runtime-installed

demo: $(VENV)/.runtime-installed
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py run_demo

# The browser-side checks (axe-core; Lighthouse for its bench), pinned in package-lock.json.
node_modules/.installed: package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the accessibility tests: apt-get install -y nodejs npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# PYTEST_ARGS adds options, e.g. CI's coverage report.
test: $(VENV)/.dev-installed node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.dev-installed
	$(PY) -m pytest -m "not e2e"

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-sandbox: $(VENV)/.dev-installed
	$(PY) bench/sandbox_scale.py

bench-sync: $(VENV)/.dev-installed
	$(PY) bench/sync_throughput.py

bench-bulk: $(VENV)/.dev-installed
	$(PY) bench/bulk_delete.py

bench-table: $(VENV)/.dev-installed
	$(PY) bench/table_at_scale.py

bench-table-live: $(VENV)/.dev-installed
	$(PY) bench/table_live.py

bench-lighthouse: $(VENV)/.dev-installed node_modules/.installed
	$(PY) bench/lighthouse.py

bench-personal-data: $(VENV)/.dev-installed
	$(PY) bench/personal_data.py

bench-recordings: $(VENV)/.dev-installed
	$(PY) bench/recordings.py

bench-freshness: $(VENV)/.dev-installed
	$(PY) bench/freshness.py

bench-sync-overlap: $(VENV)/.dev-installed
	$(PY) bench/sync_throughput.py --rows 1000000 --latency-ms 300

clean:
	rm -rf $(VENV) var staticfiles
