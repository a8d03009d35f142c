"""Fixtures shared by every test: the permission story's users, a project, a scripted
OpenAI-compatible server, and a browser for e2e tests."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started

from flywheel.testing.openai_server import OpenAICompatServer
from labeling.models import Role
from labeling.services import membership_set, project_create

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at its production cost spends seconds per user on a shared 2-core runner; tests
    # make many users and never test hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class _RequestsInFlight:
    """Counts requests the live server is still handling. A browser that closes can leave one
    behind (a draft sent on page hide, a prefetched claim); if it is still inside a transaction
    when the test database is flushed, PostgreSQL's TRUNCATE deadlocks with it."""

    def __init__(self):
        self.count = 0
        self.last_change = time.monotonic()
        self.lock = threading.Lock()
        request_started.connect(self.started, weak=False)
        request_finished.connect(self.finished, weak=False)

    def started(self, **kwargs):
        with self.lock:
            self.count += 1
            self.last_change = time.monotonic()

    def finished(self, **kwargs):
        with self.lock:
            self.count -= 1
            self.last_change = time.monotonic()

    def wait_until_quiet(self, *, settle: float = 0.15, timeout: float = 15.0) -> None:
        # A request the browser sent as it closed may not have reached the server yet, so
        # the server must also stay idle for `settle` seconds from now.
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.count <= 0 and time.monotonic() - max(self.last_change, since) >= settle:
                    return
            time.sleep(0.02)


_in_flight = _RequestsInFlight()


@pytest.fixture(autouse=True)
def _live_server_quiet_before_flush(request):
    # Set up after pytest-django's own live-server helper, so torn down before its flush.
    yield
    if "live_server" in request.fixturenames:
        _in_flight.wait_until_quiet()


@pytest.fixture
def make_user(db):
    def make(username: str, *, superuser: bool = False, staff: bool = False):
        User = get_user_model()
        user = User.objects.create_user(username=username, password=PASSWORD)
        user.is_superuser = superuser
        user.is_staff = staff or superuser
        user.save()
        return user

    return make


@pytest.fixture
def owner(make_user):
    """A researcher who owns `project`."""
    return make_user("owner", staff=True)


@pytest.fixture
def project(owner):
    return project_create(
        name="Assistant answers",
        guidelines="Be **correct**.",
        task_types=["qa", "code"],
        created_by=owner,
    )


@pytest.fixture
def labeler(make_user, project):
    user = make_user("labeler")
    membership_set(project=project, user=user, role=Role.LABELER)
    return user


@pytest.fixture
def reviewer(make_user, project):
    user = make_user("reviewer")
    membership_set(project=project, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def stranger(make_user):
    """A member of another project only."""
    user = make_user("stranger")
    other = project_create(name="Someone else's project", created_by=None)
    membership_set(project=other, user=user, role=Role.RESEARCHER)
    return user


@pytest.fixture
def llm_server():
    """A real local HTTP server speaking the chat-completions protocol; script it per test."""
    with OpenAICompatServer() as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless chromium driven by Playwright, or a skip that says how to get it.

    CI sets FLYWHEEL_REQUIRE_BROWSER=1 so that a missing browser fails instead.
    """
    missing = None
    if not shutil.which(CHROMIUM):
        missing = f"{CHROMIUM} not found; install it with `apt-get install -y chromium`"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed; run `make install`"
    if missing:
        if os.environ.get("FLYWHEEL_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(f"browser tests need chromium: {missing}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.fixture
def subprocess_env(transactional_db) -> dict[str, str]:
    """Environment for a child process (a worker, a training run) that must use the test
    database; the test must use `transactional_db` so the child sees committed rows."""
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    # The repo first; packages the host puts on PYTHONPATH (a GPU image's extras) stay.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env
