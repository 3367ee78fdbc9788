"""Start the whole app with one command: `python manage.py runapp [--port 8000]`.

Migrates the database, collects static files when they are served from STATIC_ROOT, fetches the
default model (SmolLM2-135M-Instruct, converted once under var/models/), creates the demo
clinician and prints its login, then starts a Celery worker (queues notes and training, one
child process) and the web server as child processes. Ctrl-C stops both; if either exits, the other
is stopped too and the command exits with the child's status.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from clinic.management.commands.create_demo_user import ensure_demo_user

VENDOR = ("vendor/htmx.min.js", "vendor/pico.min.css")
VENDOR_SOURCES = {
    "vendor/htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
    "vendor/pico.min.css": "node_modules/@picocss/pico/css/pico.min.css",
}


def ensure_vendor_assets(base: Path) -> None:
    """htmx and Pico come from npm (never a CDN); copy them into the app's static folder if missing."""
    static = base / "clinic" / "static"
    for target in VENDOR:
        dest = static / target
        if dest.exists():
            continue
        source = base / VENDOR_SOURCES[target]
        if not source.exists():
            raise CommandError(f"{dest} is missing and so is {source}; run `npm ci` (or `bash scripts/setup.sh`) first")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def worker_command() -> list[str]:
    # prefork with one child, not solo: Celery enforces the tasks' soft/hard time limits only in
    # prefork, and the child keeps the loaded model between tasks.
    return [sys.executable, "-m", "celery", "-A", "clinic", "worker", "-Q", "notes,training",
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO", "--hostname", "runapp@%h"]  # fmt: skip


def web_command(host: str, port: int) -> list[str]:
    if settings.PRODUCTION:
        return [sys.executable, "-m", "gunicorn", "clinic.wsgi", "--bind", f"{host}:{port}", "--workers", "2"]
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runserver", f"{host}:{port}", "--noreload"]


class Command(BaseCommand):
    help = "Migrate, fetch the default model, create the demo user, then run the web server and a Celery worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Start only the web server.")
        parser.add_argument("--skip-model", action="store_true", help="Do not fetch the default model now.")

    def handle(self, *args: Any, **options: Any) -> None:
        base = Path(settings.BASE_DIR)
        self.stdout.write("runapp: migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        ensure_vendor_assets(base)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        if not options["skip_model"]:
            self.stdout.write("runapp: fetching the default model (first run: about a minute)")
            from inference.models import fetch_default

            self.stdout.write(f"runapp: default model at {fetch_default()}")
        from clinic.mlops.registry import ensure_default_version

        if ensure_default_version() is not None:
            self.stdout.write("runapp: model registry starts with the shipped default as the active version")
        username, password = ensure_demo_user()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(
            self.style.SUCCESS(f"\n  Open {url}\n  Demo login: username={username} password={password}\n")
        )
        commands = [web_command(options["host"], options["port"])]
        if not options["no_worker"]:
            commands.append(worker_command())
        sys.exit(self.supervise(commands, base))

    def supervise(self, commands: list[list[str]], cwd: Path) -> int:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # `kill`, systemd and `timeout` send SIGTERM: stop the children then too, as on Ctrl-C.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        # Ctrl-C too, explicitly: a process started in the background by a non-interactive shell
        # (`make run &` in a script) inherits SIGINT ignored, and Python then leaves it ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        children = [subprocess.Popen(cmd, cwd=cwd, env=env) for cmd in commands]
        code = 0
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            code = next(child.returncode for child in children if child.returncode is not None)
            self.stderr.write(f"runapp: a child process exited with status {code}; stopping the others")
        except KeyboardInterrupt:
            self.stdout.write("\nrunapp: stopping")
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        return code
