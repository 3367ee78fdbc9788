# The README's commands. `make run` installs everything and starts the app; `make test` runs
# the full suite. Both are safe to repeat: setup skips what is already in place.
PY := .venv/bin/python

.PHONY: run setup test test-quick lint model bench

run: setup
	$(PY) manage.py runapp

setup:
	bash scripts/setup.sh

model: setup
	$(PY) -m inference fetch

test: setup
	bash scripts/test.sh

test-quick:
	$(PY) -m pytest -m "not slow and not e2e" -q

lint:
	.venv/bin/ruff check clinic inference training tests benchmarks
	.venv/bin/mypy
