"""Django settings, read from the environment with safe defaults.

No environment at all gives the embedded setup: SQLite under var/, a broker that needs no
server (kombu's SQLAlchemy transport on a SQLite file), DEBUG on. `DATABASE_URL` switches to
PostgreSQL, `CELERY_BROKER_URL` to Redis. `DJANGO_ENV=production` turns on the hardened
settings that pass `manage.py check --deploy`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url

from clinic.env import ConfigError, envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("SOAP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = envstr("DJANGO_ENV", "development") == "production"
DEBUG = envbool("DJANGO_DEBUG", not PRODUCTION)

_dev_secret = "dev-only-insecure-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = envstr("DJANGO_SECRET_KEY", "" if PRODUCTION else _dev_secret)
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ConfigError("DJANGO_SECRET_KEY must be set to 50+ random characters when DJANGO_ENV=production")

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "clinic",
    "clinic.notes",
    "clinic.api",
    "clinic.mlops",
    "clinic.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "clinic.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinic.middleware.OversizedPostMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.IdleSessionTimeoutMiddleware",
    "clinic.accounts.middleware.TimeZoneMiddleware",  # the signed-in user's saved zone, else TIME_ZONE
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.accounts.context_processors.time_zone",
            ],
        },
    },
]

DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web process read while the worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a file (one per test process), not :memory:, so a real Celery worker or a live
    # server subprocess can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test" / f"test_clinic_{os.getpid()}.sqlite3")}
    (VAR_DIR / "test").mkdir(exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "notes:encounter_list"
LOGOUT_REDIRECT_URL = "login"
# Login throttling (clinic/security.py): this many failed passwords for one username, or from one
# address, within the window lock further tries out until the window ends. Audited.
AUTHENTICATION_BACKENDS = ["clinic.security.ThrottledModelBackend"]
LOGIN_FAILURES_PER_ACCOUNT = envint("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = envint("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_LOCKOUT_SECONDS = envint("LOGIN_LOCKOUT_SECONDS", 900)
# Sessions: signed out after this long without a request from the user (polling does not count),
# and after SESSION_COOKIE_AGE whatever happens. 0 turns the idle timeout off.
SESSION_IDLE_TIMEOUT_SECONDS = envint("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_COOKIE_AGE = envint("SESSION_MAX_AGE_SECONDS", 12 * 3600)
# Everything the pages load is served by the app itself (no CDN); no inline script or style.
CONTENT_SECURITY_POLICY = envstr(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

LANGUAGE_CODE = "en-us"
# Pages show times in the signed-in clinician's saved zone (clinic.accounts); this zone is for everything else.
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Outside production nothing has run collectstatic: whitenoise serves the apps' static folders
# directly (finders), and its warning about the still-missing STATIC_ROOT is only noise.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Uploads and request bodies: the dialogue limit is what a clinician meets; the body limit
# is a little larger so the form's own fields fit beside a maximal dialogue.
DIALOGUE_MAX_BYTES = envint("DIALOGUE_MAX_BYTES", 1_000_000)
API_MAX_BODY_BYTES = envint("API_MAX_BODY_BYTES", DIALOGUE_MAX_BYTES + 64_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# Celery. Embedded default: kombu's SQLAlchemy transport over a SQLite file in var/.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for the next one
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "notes"
CELERY_TASK_ROUTES = {
    "clinic.notes.tasks.*": {"queue": "notes"},
    "clinic.mlops.tasks.*": {"queue": "training"},
}
# kombu's SQLAlchemy transport hands every transport option to create_engine(), which rejects
# visibility_timeout (a Redis/SQS option), so the embedded broker gets none.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {} if CELERY_BROKER_URL.startswith("sqla+") else {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)}
)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# Generation: which inference backend and model the app uses. An empty model means the
# active ModelVersion in the registry, else the default policy (SmolLM2-135M-Instruct).
SOAP_BACKEND = envstr("SOAP_BACKEND", "transformers")
SOAP_MODEL = envstr("SOAP_MODEL", "")
SOAP_OPENAI_BASE_URL = envstr("SOAP_OPENAI_BASE_URL", "http://127.0.0.1:8001/v1")
SOAP_JUDGE_BASE_URL = envstr("SOAP_JUDGE_BASE_URL", "http://127.0.0.1:8002/v1")
SOAP_MAX_NEW_TOKENS = envint("SOAP_MAX_NEW_TOKENS", 1024)
RAY_ADDRESS = envstr("RAY_ADDRESS", "")

# Clinician feedback loop (clinic/mlops/feedback.py): signed notes -> de-identified examples.
# The beat task that proposes a training run once enough new signed notes exist is off by default.
FEEDBACK_DATASET = envstr("FEEDBACK_DATASET", "clinician-feedback")
FEEDBACK_HOLDOUT_PERCENT = envint("FEEDBACK_HOLDOUT_PERCENT", 10)
FEEDBACK_CLINICIAN_WEIGHT = float(envstr("FEEDBACK_CLINICIAN_WEIGHT", "1.0"))
FEEDBACK_AUTO_PROPOSE = envbool("FEEDBACK_AUTO_PROPOSE", False)
FEEDBACK_MIN_NEW_EXAMPLES = envint("FEEDBACK_MIN_NEW_EXAMPLES", 50)
FEEDBACK_INLINE_MAX_CHARS = envint("FEEDBACK_INLINE_MAX_CHARS", 50_000)  # longer dialogues: scrubbed by a task
if FEEDBACK_AUTO_PROPOSE:
    CELERY_BEAT_SCHEDULE["feedback-propose-run"] = {
        "task": "clinic.mlops.tasks.feedback.propose_training_run",
        "schedule": float(envint("FEEDBACK_PROPOSE_EVERY_SECONDS", 3600)),
    }

API_RATE_LIMIT_PER_MINUTE = envint("API_RATE_LIMIT_PER_MINUTE", 600)

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": envstr("CACHE_URL", "")}
        if envstr("CACHE_URL", "")
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "clinic_cache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # No credential or search term reaches a log line (clinic/logfilters.py).
    "filters": {
        "secrets": {"()": "clinic.logfilters.RedactSecrets"},
        "queries": {"()": "clinic.logfilters.RedactQueryStrings"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets", "queries"]}
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # runserver's access log, through the filtered handler instead of Django's own
    "loggers": {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
