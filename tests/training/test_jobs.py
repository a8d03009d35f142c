"""Job lifecycle: transitions only through services, illegal ones raise, one claimant wins."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from training.models import JobStatus, TrainingJob
from training.services import (
    job_cancel,
    job_claim,
    job_clone,
    job_finish,
    job_launch,
    job_progress,
    job_reap_lost,
    job_retry,
)
from training.services.jobs import (
    ERROR_ILLEGAL_TRANSITION,
    ERROR_SNAPSHOT_PROJECT,
    JobNotClaimable,
    JobTransitionError,
)

pytestmark = pytest.mark.django_db


def test_launch_queues_the_job_and_enqueues_the_gpu_task_on_commit(
    make_job, django_capture_on_commit_callbacks
):
    job = make_job()
    with django_capture_on_commit_callbacks(execute=True):
        job = job_launch(job=job)
    assert job.status == JobStatus.QUEUED
    assert job.queued_at is not None
    task = DBTaskResult.objects.get()
    assert task.queue_name == "gpu"
    assert task.args_kwargs["kwargs"] == {"job_id": job.pk}


def test_illegal_transitions_raise(make_job):
    job = make_job()
    with pytest.raises(JobTransitionError, match="A draft job cannot be retried"):
        job_retry(job=job)
    with pytest.raises(JobNotClaimable):
        job_claim(job_id=job.pk)  # drafts are not claimable
    job_launch(job=job)
    with pytest.raises(JobTransitionError) as exc:
        job_launch(job=job)
    assert str(exc.value) == ERROR_ILLEGAL_TRANSITION.format(status="queued", action="launched")
    job_claim(job_id=job.pk)
    job_finish(job_id=job.pk, status=JobStatus.SUCCEEDED)
    with pytest.raises(JobTransitionError, match="A succeeded job cannot be marked failed"):
        job_finish(job_id=job.pk, status=JobStatus.FAILED)
    with pytest.raises(JobTransitionError, match="A succeeded job cannot be cancelled"):
        job_cancel(job=TrainingJob.objects.get(pk=job.pk))


def test_only_one_claim_wins(make_job):
    job = make_job()
    job_launch(job=job)
    claimed = job_claim(job_id=job.pk, host="gpu-a", pid=11)
    assert (claimed.status, claimed.worker_host, claimed.attempts) == ("running", "gpu-a", 1)
    with pytest.raises(JobNotClaimable, match="is running, not queued"):
        job_claim(job_id=job.pk, host="gpu-b", pid=12)
    assert TrainingJob.objects.get(pk=job.pk).worker_host == "gpu-a"


def test_cancel_queued_is_immediate_and_running_is_cooperative(make_job):
    queued = job_launch(job=make_job())
    assert job_cancel(job=queued).status == JobStatus.CANCELLED
    running = job_launch(job=make_job())
    job_claim(job_id=running.pk)
    running = job_cancel(job=TrainingJob.objects.get(pk=running.pk))
    assert running.status == JobStatus.RUNNING
    assert running.cancel_requested is True
    assert job_progress(job_id=running.pk, step=1, total_steps=3, seconds_per_step=2.0) is True


def test_progress_sets_eta_and_heartbeat(make_job):
    job = job_launch(job=make_job())
    job_claim(job_id=job.pk)
    before = timezone.now()
    assert job_progress(job_id=job.pk, step=2, total_steps=10, seconds_per_step=3.0) is False
    job.refresh_from_db()
    assert (job.step, job.total_steps, job.progress_percent) == (2, 10, 20)
    assert job.heartbeat_at >= before
    assert timedelta(seconds=23) < job.eta_at - before < timedelta(seconds=26)


def test_stale_heartbeat_is_failed_as_worker_lost_and_retry_requeues(make_job):
    job = job_launch(job=make_job())
    job_claim(job_id=job.pk)
    fresh = job_launch(job=make_job())
    job_claim(job_id=fresh.pk)
    TrainingJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=600)
    )
    assert job_reap_lost(timeout_seconds=120) == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("worker lost")
    assert TrainingJob.objects.get(pk=fresh.pk).status == JobStatus.RUNNING
    job = job_retry(job=job)
    assert (job.status, job.error, job.cancel_requested) == ("queued", "", False)
    assert job_claim(job_id=job.pk).attempts == 2


def test_the_job_page_and_the_api_show_a_job_whose_host_died_as_failed(client, make_job, owner):
    from rest_framework.test import APIClient

    from tests.conftest import PASSWORD

    page_job, api_job, alive = (job_launch(job=make_job()) for _ in range(3))
    for job in (page_job, api_job, alive):
        job_claim(job_id=job.pk)
    TrainingJob.objects.filter(pk__in=[page_job.pk, api_job.pk]).update(
        heartbeat_at=timezone.now() - timedelta(hours=3)
    )
    assert client.login(username=owner.username, password=PASSWORD)
    url = f"/training/jobs/{page_job.pk}/"
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 286  # polling stops
    assert "worker lost" in client.get(url).content.decode()
    api = APIClient()
    api.force_authenticate(owner)
    body = api.get(f"/api/training/jobs/{api_job.pk}/").json()
    assert body["status"] == JobStatus.FAILED and body["error"].startswith("worker lost")
    assert api.get(f"/api/training/jobs/{alive.pk}/").json()["status"] == JobStatus.RUNNING


def test_clone_copies_settings_into_a_new_draft(make_job, owner):
    job = make_job(peft_method="dora", learning_rate=1e-3)
    clone = job_clone(job=job, created_by=owner)
    assert clone.pk != job.pk
    assert clone.parent == job
    assert clone.status == JobStatus.DRAFT
    assert clone.config["peft"] == job.config["peft"]
    assert clone.hyperparameters == job.hyperparameters
    assert clone.output_dir != job.output_dir


def test_snapshot_from_another_project_is_refused(make_job, stranger):
    from labeling.models import Project
    from training.testing import sample_conversations, snapshot_write

    other = Project.objects.exclude(memberships__user__username="owner").get()
    snapshot = snapshot_write(project=other, train=sample_conversations(), name="theirs")
    with pytest.raises(JobTransitionError, match=ERROR_SNAPSHOT_PROJECT):
        make_job(snapshot=snapshot)
