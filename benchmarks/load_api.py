"""Load test of the REST API against gunicorn + PostgreSQL + Redis + a real Celery worker.

    .venv/bin/python benchmarks/load_api.py                 # 50 clients for 2 minutes (the issue's run)
    .venv/bin/python benchmarks/load_api.py --duration 20   # a short run

What it does, all on 127.0.0.1:
1. (Re)creates the PostgreSQL database `soap_load` (override with --database-url), migrates it,
   and seeds one clinician per client, each with a token and a few generated (draft) notes.
2. Starts gunicorn (the production web server) and one Celery worker on queue `notes` with the
   real default model (niced, one thread: generation is slow on CPU, so most jobs stay queued).
3. Baseline: 1 client for a short phase; then the load: --clients clients (locust, headless),
   reading notes and lists, updating sections with optimistic locking, polling jobs and now and
   then creating an encounter (a generation request queued to Celery).
4. Prints requests/s, p50/p95/p99 per endpoint and for reads + section updates together, the
   ratio to the 1-client baseline, errors, and accounts for every generation request: each 202
   has a job row that is queued (its message still in the broker), generating, done, or failed
   with a reason. Exits non-zero if any error, lost job, or p95 >= 200 ms for reads and updates.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
READS_AND_UPDATES = {
    "GET /notes/{id}",
    "GET /encounters",
    "GET /notes?status=draft",
    "PUT /notes/{id}/sections/{k}",
    "GET /jobs/{id}",
}
TARGET_P95_MS = 200.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=120, help="seconds of the main load phase (default 120)")
    p.add_argument("--baseline", type=int, default=20, help="seconds of the 1-client baseline phase")
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--notes-per-client", type=int, default=3)
    p.add_argument("--think", default="0.5,1.5", help="min,max seconds a client waits between requests")
    p.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/soap_load")
    p.add_argument("--broker-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--cache-url", default="redis://127.0.0.1:6379/8")
    p.add_argument("--no-worker", action="store_true", help="do not start the Celery worker")
    p.add_argument("--out", default=str(ROOT / "var" / "bench" / "load_api.json"), help="where to write the figures")
    return p.parse_args()


def app_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        CELERY_BROKER_URL=args.broker_url,
        CACHE_URL=args.cache_url,
        DJANGO_DEBUG="0",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="clinic.settings",
    )
    return env


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def seed(args: argparse.Namespace, env: dict[str, str]) -> list[dict]:
    """Migrate and create the clinicians, tokens and draft notes; runs in a child so settings read `env`."""
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = f"""
import json, django
django.setup()
from django.contrib.auth import get_user_model
from django.utils import timezone
from clinic.api.models import ApiToken
from clinic.notes import services
from clinic.notes.models import Note, NoteRevision
DIALOGUE = "Doctor: How is the cough?\\nPatient: Worse at night.\\nDoctor: Chest is clear; try honey and rest.\\n"
SECTIONS = {{"S": "Night cough.", "O": "Chest clear.", "A": "Post-viral cough.", "P": "Honey, rest, review."}}
User = get_user_model()
clients = []
for i in range({args.clients}):
    user = User.objects.create_user(f"clinician{{i}}", password="load-test-password-1")
    token = ApiToken.issue(user, "load test")[1]
    notes = []
    for j in range({args.notes_per_client}):
        enc = services.create_encounter(user, DIALOGUE, title=f"Seed {{i}}-{{j}}", via="api")
        note = Note.objects.get(encounter=enc)
        for key, text in SECTIONS.items():
            setattr(note, key, text)
            NoteRevision.objects.create(note=note, section=key, after=text, kind="generated", note_version=1)
        note.generated, note.status, note.version, note.generated_at = SECTIONS, "draft", 1, timezone.now()
        note.save()
        notes.append({{"id": note.pk, "version": 1}})
    clients.append({{"token": token, "notes": notes}})
print(json.dumps(clients))
"""
    out = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "w")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen | None, grace: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_healthy(port: int, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer /api/v1/health on port {port} within {timeout:.0f} s; see its log")


def run_locust(users: int, seconds: int, port: int, env: dict[str, str], samples: Path, log: Path) -> None:
    env = {**env, "LOAD_API_SAMPLES": str(samples)}
    cmd = [
        str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile_api.py"), "--headless",
        "-u", str(users), "-r", str(max(1, users // 5)), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
        "--only-summary", "--stop-timeout", "10", "--exit-code-on-error", "0",
    ]  # fmt: skip
    with open(log, "a") as out:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(samples: Path, seconds: float) -> dict:
    rows = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    by_name: dict[str, list[dict]] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)

    def stats(group: list[dict]) -> dict:
        ms = [r["ms"] for r in group]
        return {
            "requests": len(group),
            "rps": round(len(group) / seconds, 1),
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "errors": sum(not r["ok"] for r in group),
        }

    reads_updates = [r for r in rows if r["name"] in READS_AND_UPDATES]
    return {
        "all": stats(rows),
        "reads_and_updates": stats(reads_updates),
        "endpoints": {name: stats(group) for name, group in sorted(by_name.items())},
        "created_202": sum(1 for r in rows if r["name"] == "POST /encounters" and r["status"] == 202),
        "error_statuses": sorted({r["status"] for r in rows if not r["ok"]}),
    }


def account_for_jobs(env: dict[str, str], broker_url: str, created: int) -> dict:
    """Every 202 must have a job row; queued jobs must still have their message in the broker."""
    import redis

    code = """
import json, django
django.setup()
from django.db.models import Count, Q
from clinic.notes.models import GenerationJob
rows = GenerationJob.objects.values("state").annotate(n=Count("id"))
no_reason = GenerationJob.objects.filter(state="failed").filter(Q(error="") | Q(error__isnull=True)).count()
queued_ids = list(GenerationJob.objects.filter(state="queued").values_list("celery_task_id", flat=True))
print(json.dumps({"states": {r["state"]: r["n"] for r in rows}, "failed_without_reason": no_reason,
                  "queued_task_ids": queued_ids}))
"""
    out = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    db = json.loads(out.stdout.strip().splitlines()[-1])
    broker = redis.Redis.from_url(broker_url)
    pending: set[str] = set()
    for raw in broker.lrange("notes", 0, -1):
        pending.add(json.loads(raw)["headers"]["id"])
    for raw in broker.hvals("unacked"):
        message = json.loads(raw)[0]
        pending.add(message["headers"]["id"])
    queued = db.pop("queued_task_ids")
    missing = [t for t in queued if t not in pending]
    total = sum(db["states"].values())
    return {
        **db,
        "jobs": total,
        "created_202": created,
        "broker_messages": len(pending),
        "queued_without_message": len(missing),
        "lost": abs(created - total) + len(missing) + db["failed_without_reason"],
    }


def print_table(title: str, summary: dict) -> None:
    print(f"\n{title}")
    print(f"{'endpoint':34} {'req':>6} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'err':>4}")
    for name, s in [*summary["endpoints"].items(), ("reads + section updates", summary["reads_and_updates"]),
                    ("all", summary["all"])]:  # fmt: skip
        print(
            f"{name:34} {s['requests']:>6} {s['rps']:>7} {s['p50_ms']:>7} {s['p95_ms']:>7} {s['p99_ms']:>7} "
            f"{s['errors']:>4}"
        )


def main() -> int:
    args = parse_args()
    env = app_env(args)
    work = Path(tempfile.mkdtemp(prefix="load_api_"))
    print(f"logs in {work}")
    recreate_database(args.database_url)
    flush_redis(args.broker_url)
    flush_redis(args.cache_url)
    clients = seed(args, env)
    clients_file = work / "clients.json"
    clients_file.write_text(json.dumps(clients))
    env["LOAD_API_CLIENTS"] = str(clients_file)
    env["LOAD_API_THINK"] = args.think

    web = worker = None
    try:
        web = start(
            [str(BIN / "gunicorn"), "clinic.wsgi", "-w", str(args.web_workers), "-b", f"127.0.0.1:{args.port}",
             "--log-level", "warning", "--timeout", "60"],
            env, work / "gunicorn.log",
        )  # fmt: skip
        if not args.no_worker:
            worker_env = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
            worker = start(
                ["nice", "-n", "19", str(BIN / "celery"), "-A", "clinic", "worker", "-Q", "notes", "-c", "1",
                 "--loglevel", "WARNING", "-n", "load-worker@%h"],
                worker_env, work / "worker.log",
            )  # fmt: skip
        wait_healthy(args.port)
        # Warm-up (not counted): every gunicorn worker imports the URLconf and opens its DB connection.
        warmup_samples = work / "warmup.jsonl"
        run_locust(min(8, args.clients), 8, args.port, env, warmup_samples, work / "locust.log")
        warmup = summarize(warmup_samples, 8)

        base_samples = work / "baseline.jsonl"
        run_locust(1, args.baseline, args.port, env, base_samples, work / "locust.log")
        baseline = summarize(base_samples, args.baseline)

        load_samples = work / "load.jsonl"
        started = time.monotonic()
        run_locust(args.clients, args.duration, args.port, env, load_samples, work / "locust.log")
        elapsed = time.monotonic() - started
        load = summarize(load_samples, min(elapsed, args.duration))
    finally:
        stop(web)
        stop(worker)

    jobs = account_for_jobs(env, args.broker_url, warmup["created_202"] + baseline["created_202"] + load["created_202"])
    print_table("Baseline: 1 client", baseline)
    print_table(
        f"Load: {args.clients} clients for {args.duration} s (gunicorn -w {args.web_workers}, PostgreSQL)", load
    )
    ratio = load["reads_and_updates"]["p95_ms"] / max(baseline["reads_and_updates"]["p95_ms"], 0.1)
    print(
        f"\np95 reads + updates: {load['reads_and_updates']['p95_ms']} ms under load vs "
        f"{baseline['reads_and_updates']['p95_ms']} ms for 1 client (ratio {ratio:.2f}); target < {TARGET_P95_MS} ms"
    )
    print(f"generation jobs: {json.dumps(jobs)}")

    result = {"args": vars(args), "baseline": baseline, "load": load, "p95_ratio_to_baseline": round(ratio, 2),
              "jobs": jobs}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"figures written to {args.out}")

    errors = baseline["all"]["errors"] + load["all"]["errors"]
    ok = errors == 0 and jobs["lost"] == 0 and load["reads_and_updates"]["p95_ms"] < TARGET_P95_MS
    print("PASS" if ok else f"FAIL: errors={errors} lost_jobs={jobs['lost']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
