"""Admin actions call the services; their refusals are shown, not raised."""

import pytest
from django.contrib.messages import get_messages

from training.models import JobStatus, TrainingJob
from training.services import job_claim, job_finish, job_launch

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/training/trainingjob/"


@pytest.fixture
def admin_client(client, owner):
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    return client


def act(client, action, *jobs):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [j.pk for j in jobs]}, follow=True
    )


def test_clone_cancel_and_retry_actions(admin_client, make_job):
    job = make_job()
    response = act(admin_client, "clone", job)
    assert "Cloned 1 job(s)." in [str(m) for m in get_messages(response.wsgi_request)]
    clone = TrainingJob.objects.get(parent=job)
    assert clone.status == JobStatus.DRAFT

    act(admin_client, "cancel", clone)
    assert TrainingJob.objects.get(pk=clone.pk).status == JobStatus.CANCELLED

    response = act(admin_client, "retry", job)  # a draft cannot be retried
    assert "A draft job cannot be retried." in response.content.decode()
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.DRAFT

    job_launch(job=job)
    job_claim(job_id=job.pk)
    job_finish(job_id=job.pk, status=JobStatus.FAILED, error="boom")
    act(admin_client, "retry", job)
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_change_page_shows_the_report_and_links_the_job_page(admin_client, make_job):
    job = make_job()
    TrainingJob.objects.filter(pk=job.pk).update(
        data_report={"before": {"train": {"qa": {"rows": 4, "truncated": 1, "dropped": 2}}}}
    )
    response = admin_client.get(f"{CHANGELIST}{job.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/training/jobs/{job.pk}/" in html
    assert "truncated" in html
    listing = admin_client.get(CHANGELIST).content.decode()
    assert "qa: 1/2" in listing  # truncated / dropped per task type in the list


def test_non_staff_cannot_reach_the_admin(client, labeler, make_job):
    make_job()
    client.force_login(labeler)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
