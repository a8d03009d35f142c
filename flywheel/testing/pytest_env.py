"""Loaded with `-p flywheel.testing.pytest_env` before Django settings are read.

Gives the test run the environment a developer would otherwise export by hand: a throwaway
secret, plain HTTP, and a scratch directory for SQLite files and artifacts. Values already in
the environment (DATABASE_URL from CI, say) win.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("FLYWHEEL_HTTPS", "0")
os.environ.setdefault("FLYWHEEL_STATIC_MANIFEST", "0")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("FLYWHEEL_VAR_DIR", tempfile.mkdtemp(prefix="flywheel-test-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Playwright's sync API runs an event loop in the test thread; the live server's database work
# happens in other threads, but fixtures that touch the ORM from a browser test need this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
