"""Production configuration: docker-compose.yml names every service the settings use; check --deploy is clean."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Settings whose value points at another service of the stack.
SERVICE_URL_SETTINGS = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SOAP_OPENAI_BASE_URL",
                        "SOAP_JUDGE_BASE_URL", "RAY_ADDRESS")  # fmt: skip


def test_compose_has_the_production_services_with_healthchecks():
    expected = {"postgres", "redis", "web", "worker", "vllm", "vllm-judge", "ray-head"}
    assert expected <= set(SERVICES)
    for name in expected:
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    assert {"postgres-data", "redis-data", "app-var"} <= set(COMPOSE["volumes"])
    assert "gunicorn" in SERVICES["web"]["command"]
    assert SERVICES["worker"]["command"][SERVICES["worker"]["command"].index("-Q") + 1] == "notes,training"


@pytest.mark.parametrize("service", ["web", "worker"])
@pytest.mark.parametrize("setting", SERVICE_URL_SETTINGS)
def test_every_service_a_setting_names_exists(service, setting):
    environment = SERVICES[service]["environment"]
    assert setting in environment, f"{service} does not set {setting}"
    value = re.sub(r"\$\{\w+(?::?[-?][^}]*)?\}", "secret", environment[setting])  # as compose interpolates
    host = urlsplit(value).hostname
    assert host in SERVICES, f"{setting}={environment[setting]} names host {host!r}, which is not a service"


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "clinic.example.org",
        "SOAP_VAR_DIR": str(tmp_path),
    }
    for name in SERVICE_URL_SETTINGS:
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_missing_secret_key(tmp_path):
    env = {**os.environ, "DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "", "SOAP_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr
