#!/usr/bin/env bash
# The full test suite: unit, integration (real model, real Celery worker, real servers) and
# end-to-end (Debian's Chromium via Playwright). Called by `make test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
.venv/bin/ruff check clinic inference training tests benchmarks
.venv/bin/mypy  # clinic, inference and training ([tool.mypy] in pyproject.toml); about a minute from cold
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "test: models changed without a migration: run manage.py makemigrations"; exit 1; }
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
