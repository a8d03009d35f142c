"""The Django Tasks round trip: enqueue in a request's transaction, a real `db_worker` runs
it, the result is read back from the database."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from flywheel.tasks import worker_ping
from tests.flywheel.crashing_tasks import die_mid_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_enqueued_task_runs_in_db_worker_and_returns_its_result():
    result = worker_ping.enqueue(note="round trip")
    assert result.status == TaskResultStatus.READY

    call_command(
        "db_worker", "--queue-name", "default", "--max-tasks", "1", "--batch", "--no-startup-delay"
    )

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["note"] == "round trip"


def test_worker_in_another_process_runs_the_task(subprocess_env):
    result = worker_ping.enqueue(note="cross-process")
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "default",
            "--max-tasks",
            "1",
            "--batch",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["pid"] != __import__("os").getpid()


def test_gpu_queue_is_not_taken_by_a_default_worker(subprocess_env):
    gpu_result = worker_ping.using(queue_name="gpu").enqueue(note="gpu only")
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "default",
            "--batch",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    gpu_result.refresh()
    assert gpu_result.status == TaskResultStatus.READY


def test_a_worker_that_dies_leaves_its_task_visible_in_the_admin(subprocess_env, client):
    result = die_mid_task.enqueue()
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "default",
            "--max-tasks",
            "1",
            "--batch",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 3
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == TaskResultStatus.RUNNING  # not lost, not silently finished

    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    client.force_login(admin)
    page = client.get("/admin/django_tasks_database/dbtaskresult/")
    assert page.status_code == 200
    assert "die_mid_task" in page.content.decode()
