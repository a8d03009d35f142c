"""The whole path through processes: admin action → gpu queue → db_worker → training child;
cancel mid-run; a killed child is found by its stale heartbeat and retry resumes."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import close_old_connections
from django_tasks_db.models import DBTaskResult

from training.models import Adapter, JobStatus, MetricPoint, TrainingJob
from training.services import job_cancel, job_launch, job_reap_lost, job_retry
from training.tasks import training_job_run

pytestmark = [pytest.mark.training, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def worker(env):
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "gpu",
            "--max-tasks",
            "1",
            "--batch",
            "--no-startup-delay",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def child(env, job):
    return subprocess.Popen(
        [sys.executable, "-m", "training.run", str(job.pk)],
        cwd=ROOT,
        env={**env, "FLYWHEEL_PROGRESS_SECONDS": "0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.postgres
def test_admin_launch_runs_once_on_two_workers_and_leaves_an_adapter_that_loads(
    subprocess_env, client, owner, make_job, tiny_model
):
    job = make_job(base_model=tiny_model, max_steps=2)
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    response = client.post(
        "/admin/training/trainingjob/",
        {"action": "launch", "_selected_action": [job.pk]},
    )
    assert response.status_code == 302
    training_job_run.enqueue(job_id=job.pk)  # a second task for the same job (a double launch)
    assert DBTaskResult.objects.filter(queue_name="gpu").count() == 2

    workers = [worker(subprocess_env), worker(subprocess_env)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 1
    results = [r.return_value for r in DBTaskResult.objects.filter(queue_name="gpu")]
    ran = [r for r in results if "status" in r]
    skipped = [r for r in results if "skipped" in r]
    assert len(ran) == 1 and len(skipped) == 1, results
    assert (
        "is succeeded, not queued" in skipped[0]["skipped"] or "is running" in skipped[0]["skipped"]
    )
    assert ran[0]["exit_code"] == 0
    assert len(list(Path(job.output_dir).glob("run-*.log"))) == 1

    from training.generation import adapter_load

    adapter = Adapter.objects.get(job=job)
    model, _ = adapter_load(path=adapter.path, base_model=adapter.base_model, method="lora")
    assert type(model).__name__ == "PeftModelForCausalLM"


def test_cancel_stops_the_run_at_the_next_step_and_saves(subprocess_env, make_job, tiny_model):
    job = job_launch(
        job=make_job(
            base_model=tiny_model, max_steps=400, save_steps=1000, per_device_train_batch_size=2
        )
    )
    proc = child(subprocess_env, job)
    wait_for(lambda: TrainingJob.objects.get(pk=job.pk).step >= 3)
    job_cancel(job=TrainingJob.objects.get(pk=job.pk))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert 3 <= job.step < 400
    checkpoints = list(Path(job.output_dir, "checkpoints").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == [f"checkpoint-{job.step}"]
    assert not Adapter.objects.filter(job=job).exists()


def test_killed_child_is_worker_lost_and_retry_resumes_from_the_checkpoint(
    subprocess_env, make_job, tiny_model
):
    job = job_launch(
        job=make_job(
            base_model=tiny_model, max_steps=30, save_steps=3, per_device_train_batch_size=2
        )
    )
    proc = child(subprocess_env, job)
    wait_for(lambda: TrainingJob.objects.get(pk=job.pk).step >= 7)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nobody told the database
    killed_at = job.step
    time.sleep(1.5)
    assert job_reap_lost(timeout_seconds=1) == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error.startswith("worker lost")

    # A kill during a save leaves a folder without trainer_state.json (written last); the
    # retry must resume from the newest complete one.
    checkpoint = max(
        int(p.name.split("-")[1])
        for p in Path(job.output_dir, "checkpoints").glob("checkpoint-*")
        if (p / "trainer_state.json").is_file()
    )
    # The kill can land between writing a checkpoint and recording its step, so the newest
    # checkpoint may be one save past the step the database saw; it is never more.
    assert 3 <= checkpoint <= killed_at + 3
    retried_at = time.time()
    job_retry(job=job)
    proc = child(subprocess_env, job)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.resumed_from_step == checkpoint
    assert job.attempts == 2 and job.step == 30
    since = datetime.fromtimestamp(retried_at, tz=UTC)
    new_steps = MetricPoint.objects.filter(job=job, name="loss", created_at__gte=since)
    assert min(new_steps.values_list("step", flat=True)) > checkpoint  # nothing before it re-ran
    steps = MetricPoint.objects.filter(job=job, name="loss").values_list("step", flat=True)
    assert sorted(steps) == list(range(1, 31))
