"""Transcript Desk settings: one module; every difference between machines is an env variable."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc


@overload
def env_int(name: str, default: int) -> int: ...
@overload
def env_int(name: str, default: None) -> int | None: ...
def env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


DEBUG = env_bool("DEBUG")
# A fixed key is fine for a local demo; production must set SECRET_KEY: with DEBUG off the web
# server refuses to start without one (`dashboard.wsgi`), and check --deploy says so too.
DEVELOPMENT_SECRET_KEY = "django-insecure-transcript-desk-development-only-key"
SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Served over HTTPS (a production deployment): secure cookies, HSTS and a redirect to https.
HTTPS = env_bool("HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    # Before django_tasks_db: its `db_worker` command is this app's (which also resumes).
    "transcriptions",
    "django_tasks",
    "django_tasks_db",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "transcriptions.middleware.PrivatePagesMiddleware",
    "transcriptions.middleware.TwilioRequestBudgetMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

CSRF_FAILURE_VIEW = "transcriptions.views.htmx.csrf_failure"

# A strict Content-Security-Policy: scripts and styles only from this site's own files (no
# inline code anywhere: htmx's own indicator styles are off, see base.html), nothing framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user from
# one address, that pair is locked out for AXES_COOLOFF_MINUTES; a right password resets it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind the proxy (BEHIND_TLS_PROXY), the client's address is in X-Forwarded-For; directly,
# REMOTE_ADDR.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env_bool("BEHIND_PROXY") else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
            ],
        },
    },
]

SQLITE_PATH = BASE_DIR / "var" / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    SQLITE_PATH.parent.mkdir(exist_ok=True)
    # WAL lets the web server read while a sync or a worker writes; the busy timeout makes
    # concurrent writers wait their turn instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies, but no hashed names: a manifest would make every page fail until
    # collectstatic had run (the demo and the tests never run it). Whitenoise serves plain names
    # with a short cache lifetime, which suits a handful of small files.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True

# Long work (sync, bulk deletes, retention) runs in `manage.py db_worker` processes, which share
# the queue through the database.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
# Bulk deletions: Twilio DELETEs in flight at once per worker, and how long a worker's
# heartbeat (or an item's claim) may go unrefreshed before the worker counts as dead and the
# next one resumes its work.
BULK_DELETE_CONCURRENCY = env_int("BULK_DELETE_CONCURRENCY", 8)
# When Twilio stops answering, a bulk deletion waits between single tries, doubling the wait
# up to this many seconds, instead of failing item after item.
BULK_OUTAGE_PAUSE_MAX_SECONDS = env_float("BULK_OUTAGE_PAUSE_MAX_SECONDS", 30.0)
BULK_DELETE_STALE_SECONDS = env_int("BULK_DELETE_STALE_SECONDS", 60)
# A running sync that has not written a page for this long is taken to be dead.
SYNC_STALE_AFTER_SECONDS = env_int("SYNC_STALE_AFTER_SECONDS", 300)

# Twilio. Credentials stay in settings and in the client's session; nothing logs them.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_API_KEY_SID = os.environ.get("TWILIO_API_KEY_SID", "")
TWILIO_API_KEY_SECRET = os.environ.get("TWILIO_API_KEY_SECRET", "")
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com")
TWILIO_CONNECT_TIMEOUT_SECONDS = env_float("TWILIO_CONNECT_TIMEOUT_SECONDS", 3.05)
TWILIO_READ_TIMEOUT_SECONDS = env_float("TWILIO_READ_TIMEOUT_SECONDS", 15.0)
TWILIO_MAX_ATTEMPTS = env_int("TWILIO_MAX_ATTEMPTS", 5)
TWILIO_BACKOFF_CAP_SECONDS = env_float("TWILIO_BACKOFF_CAP_SECONDS", 8.0)
# The most a web request spends on Twilio in all, retries included: well inside the server's
# worker timeout (gunicorn's is 30 s). Background work keeps the longer settings above.
TWILIO_REQUEST_BUDGET_SECONDS = env_float("TWILIO_REQUEST_BUDGET_SECONDS", 10.0)
# Unset: cached text lives as long as Twilio keeps it. Set: text older than this many days
# (from date_created) is never kept in the cache.
TRANSCRIPT_TEXT_RETENTION_DAYS = env_int("TRANSCRIPT_TEXT_RETENTION_DAYS", None)

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Request lines are logged without their query string: the search box's words (a name, a
    # card number) travel in it.
    "filters": {"no_query": {"()": "transcriptions.log_filters.QueryStringsLeftOut"}},
    # urllib3 logs every request line at DEBUG; keep it quiet whatever LOG_LEVEL says.
    "loggers": {
        "urllib3": {"level": "WARNING"},
        # django-axes logs every login at INFO (values masked); only its warnings matter.
        "axes": {"level": "WARNING"},
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
        "django.request": {"filters": ["no_query"]},
    },
}
LOGGING["handlers"]["server"] = {"class": "logging.StreamHandler", "filters": ["no_query"]}

# The key of the keyed hashes (HMAC-SHA256) that stand for personal-data values found in
# transcripts: a mentions search compares hashes, so no value is stored. Derived from
# SECRET_KEY unless set; changing it makes every stored hash unmatchable until
# `manage.py scan_personal_data --all` has run.
PERSONAL_DATA_HASH_KEY = os.environ.get("PERSONAL_DATA_HASH_KEY", "")
# How long a mentions search's link (an opaque token, never the value) stays usable.
MENTIONS_TOKEN_MAX_AGE_SECONDS = env_int("MENTIONS_TOKEN_MAX_AGE_SECONDS", 3600)

# The address Twilio reaches the desk at (e.g. https://desk.example.com): Twilio signs its
# callbacks over the URL it called, which the desk rebuilds from this, never from what a proxy
# passes on. Unset, callbacks are refused.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").strip()
# How often an open table asks what arrived or changed since it was shown (seconds).
TABLE_NEWS_POLL_SECONDS = env_float("TABLE_NEWS_POLL_SECONDS", 5.0)
