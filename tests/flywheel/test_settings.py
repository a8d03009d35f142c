import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_bool, env_database, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def test_bool_accepts_the_usual_spellings():
    assert env_bool("X", False, environ={"X": "yes"}) is True
    assert env_bool("X", True, environ={"X": "0"}) is False
    assert env_bool("X", True, environ={}) is True


def test_bad_bool_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_int_bounds_and_garbage_name_the_variable():
    assert env_int("N", 3, environ={"N": " 7 "}) == 7
    with pytest.raises(ImproperlyConfigured, match="N='seven' is not a whole number"):
        env_int("N", 3, environ={"N": "seven"})
    with pytest.raises(ImproperlyConfigured, match="N=0 is below the minimum 1"):
        env_int("N", 3, minimum=1, environ={"N": "0"})


def test_missing_required_string_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable SECRET_KEY"):
        env_str("SECRET_KEY", None, environ={})


def test_list_splits_on_commas():
    assert env_list("H", [], environ={"H": "a.example, b.example,"}) == ["a.example", "b.example"]


def test_database_url_sqlite_and_postgres():
    sqlite = env_database("DATABASE_URL", "sqlite:////tmp/x.sqlite3", environ={})
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["NAME"] == "/tmp/x.sqlite3"
    pg = env_database(
        "DATABASE_URL", "", environ={"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/flywheel"}
    )
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["HOST"], pg["PORT"], pg["USER"]) == (
        "flywheel",
        "127.0.0.1",
        5432,
        "postgres",
    )


def test_database_url_with_unknown_scheme_is_refused():
    with pytest.raises(
        ImproperlyConfigured, match="DATABASE_URL='mysql://x/y': unsupported scheme"
    ):
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": "mysql://x/y"})


def _start(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "k7#Qz9!vR2@mX5$wL8^pT3&nB6*yC1(dF4)hJ0_gS-uE+aK=oI",
        "DEBUG": "0",
        "FLYWHEEL_VAR_DIR": "/tmp/flywheel-settings-test",
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_startup_stops_on_a_malformed_variable():
    result = _start({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_startup_without_secret_key_in_production_names_it():
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "FLYWHEEL_VAR_DIR": "/tmp/flywheel-settings-test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_when_debug_is_off():
    result = _start(
        {"ALLOWED_HOSTS": "flywheel.example.org", "FLYWHEEL_HTTPS": "1"},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_importing_the_web_app_does_not_import_the_training_stack():
    code = (
        "import sys, flywheel.wsgi, flywheel.urls;"
        "heavy = {'torch', 'transformers', 'trl', 'peft', 'bitsandbytes'} & set(sys.modules);"
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "SECRET_KEY": "x" * 60,
            "DEBUG": "0",
            "FLYWHEEL_VAR_DIR": "/tmp/flywheel-settings-test",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
