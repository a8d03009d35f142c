"""Flywheel settings, driven by environment variables (see .env.example).

Every variable is read through a typed helper in flywheel.env that names the variable when its
value is wrong, so a bad deployment stops at start-up with a message that says what to fix.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from flywheel.env import (
    env_bool,
    env_database,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("FLYWHEEL_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789abcdefghijklmnop"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else None)
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("SECRET_KEY must be set to a real secret when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "flywheel",
    "labeling",
    "training",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "flywheel.urls"
WSGI_APPLICATION = "flywheel.wsgi.application"
ASGI_APPLICATION = "flywheel.asgi.application"

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
                "flywheel.context_processors.navigation",
            ],
            "builtins": ["flywheel.templatetags.flywheel"],
        },
    }
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'flywheel.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite cannot create the folder of its file; a fresh clone has no var/ yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, for the test database: worker and training child processes started
    # by the tests must see the same rows.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-flywheel.sqlite3")}
    # Covering indexes (INCLUDE columns) speed up PostgreSQL; SQLite builds them on the key
    # columns alone, which is all it can do, so its warning about it says nothing to act on.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
# Production serves hashed, compressed files made by `manage.py collectstatic`; DEBUG and the
# tests serve straight from the source folders.
STATIC_MANIFEST = env_bool("FLYWHEEL_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
if not STATIC_MANIFEST:
    # Files come from the finders; an absent STATIC_ROOT is expected, not worth a warning.
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

# Production-safe defaults: `manage.py check --deploy` is clean when DEBUG is off.
# FLYWHEEL_HTTPS=0 serves plain HTTP (behind a TLS-terminating proxy on a private network, or
# in tests); it turns off the redirect, secure cookies and HSTS together.
HTTPS = env_bool("FLYWHEEL_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated call gets 401 with WWW-Authenticate, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "flywheel.api.KeysetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "flywheel.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flywheel API",
    "DESCRIPTION": "Labeling, datasets, training and evaluation for LLM post-training.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind` or a `status`; name each enum after its class.
    "ENUM_NAME_OVERRIDES": {
        f"{path.rsplit('.', 1)[1]}Enum": path
        for path in [
            "labeling.models.prompts.PromptStatus",
            "labeling.models.annotations.AnnotationStatus",
            "labeling.models.snapshots.SnapshotKind",
            "labeling.models.snapshots.SnapshotStatus",
            "labeling.models.pipeline.PipelineStage",
            "labeling.models.pipeline.PipelineStatus",
            "labeling.models.tasks.TaskKind",
            "labeling.models.tasks.TaskStatus",
            "labeling.models.tasks.AssignmentStatus",
            "training.models.JobKind",
            "training.models.JobStatus",
            "training.models.PeftMethod",
            "evaluation.models.config.TemplateKind",
            "evaluation.models.runs.RunMode",
            "evaluation.models.runs.RunStatus",
            "evaluation.models.runs.JudgmentStatus",
        ]
    },
}

# Background work: the Django Tasks API with the database backend. Queue `default` for imports,
# synthesis and judge runs; queue `gpu` for training and generation (see README).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "gpu"],
    }
}
FLYWHEEL_ARTIFACT_DIR = env_path("FLYWHEEL_ARTIFACT_DIR", VAR_DIR / "artifacts")
FLYWHEEL_WORKER_HEARTBEAT_TIMEOUT = env_int("FLYWHEEL_WORKER_HEARTBEAT_TIMEOUT", 120, minimum=5)

# LLM calls: one OpenAI-compatible endpoint by default; judges may name their own. The key is
# read from the environment only and never stored in the database.
FLYWHEEL_LLM_BASE_URL = env_str("FLYWHEEL_LLM_BASE_URL", "http://127.0.0.1:8001/v1")
FLYWHEEL_LLM_API_KEY_VAR = "FLYWHEEL_LLM_API_KEY"
FLYWHEEL_LLM_MODEL = env_str("FLYWHEEL_LLM_MODEL", "gpt-4o-mini")
FLYWHEEL_LLM_MAX_CONCURRENCY = env_int("FLYWHEEL_LLM_MAX_CONCURRENCY", 8, minimum=1, maximum=1024)
FLYWHEEL_LLM_MAX_RETRIES = env_int("FLYWHEEL_LLM_MAX_RETRIES", 5, minimum=0, maximum=50)
FLYWHEEL_LLM_TIMEOUT = env_float("FLYWHEEL_LLM_TIMEOUT", 60.0, minimum=0.1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # One line per HTTP request to the LLM server drowns everything else; failures still show.
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "openai")},
}
