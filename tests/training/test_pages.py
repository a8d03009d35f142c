"""The job list and job page: who may see them, what they show, and how polling stops."""

import pytest
from django.urls import reverse

from labeling.models import Role
from labeling.services import membership_set
from training.models import JobStatus, MetricPoint, TrainingJob
from training.services import job_claim, job_launch, metric_points_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(make_job):
    job = job_launch(job=make_job())
    job_claim(job_id=job.pk, host="gpu-host-1")
    for step, loss in enumerate([3.0, 2.5, 2.1], start=1):
        metric_points_record(
            job_id=job.pk,
            step=step,
            values={
                "loss": loss,
                "loss/qa": loss - 0.2,
                "loss/creative": loss + 0.3,
                "loss/special_tokens": loss / 2,
                "loss/content_tokens": loss,
                "lr": 1e-4,
                "grad_norm": 0.5,
            },
        )
    TrainingJob.objects.filter(pk=job.pk).update(
        data_report={
            "before": {"train": {"qa": {"rows": 5, "truncated": 2, "dropped": 1}}},
            "after": {"train": {"qa": 4}},
        },
        trainable_params=1000,
        total_params=100000,
        adapter_size_bytes=4096,
        full_model_size_bytes=409600,
        peak_memory_bytes=2**30,
        step=3,
        total_steps=10,
    )
    return TrainingJob.objects.get(pk=job.pk)


def url(job):
    return reverse("training:job-detail", args=[job.pk])


def test_anonymous_is_sent_to_login(client, job):
    for target in (url(job), reverse("training:job-list")):
        response = client.get(target)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_stranger_gets_404_and_labeler_403(client, job, stranger, labeler):
    client.force_login(stranger)
    assert client.get(url(job)).status_code == 404
    assert job.name not in client.get(reverse("training:job-list")).content.decode()
    client.force_login(labeler)
    assert client.get(url(job)).status_code == 403


def test_owner_sees_progress_report_sizes_and_chart_data(client, owner, job):
    client.force_login(owner)
    response = client.get(url(job))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in html
    assert 'Step <strong id="job-step">3</strong> of 10' in html
    assert "1.000% of 100,000" in html  # trainable share
    assert "4.0\xa0KB" in html and "400.0\xa0KB" in html  # adapter vs full model
    charts = {c["id"]: c for c in response.context["charts"]}
    labels = [d["label"] for d in charts["chart-channels"]["datasets"]]
    assert labels == ["loss (all)", "creative", "qa"]
    assert charts["chart-channels"]["datasets"][2]["data"][0] == {"x": 1, "y": pytest.approx(2.8)}
    assert [d["label"] for d in charts["chart-tokens"]["datasets"]] == [
        "special & template tokens",
        "content tokens",
    ]
    assert response.context["report_rows"] == [
        {"split": "train", "task_type": "qa", "rows": 5, "truncated": 2, "dropped": 1, "trained": 4}
    ]


def test_polling_continues_while_running_and_stops_when_the_job_ends(client, owner, job):
    client.force_login(owner)
    response = client.get(url(job), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="job-live"' in response.content.decode()
    assert "<h1>" not in response.content.decode()  # only the partial
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    response = client.get(url(job), headers={"HX-Request": "true"})
    assert response.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in response.content.decode()
    assert "Succeeded" in response.content.decode()


def test_job_list_query_count_is_fixed(client, owner, make_job, django_assert_num_queries):
    for _ in range(3):
        make_job()
    client.force_login(owner)
    with django_assert_num_queries(4):  # session, user, jobs (with project/snapshot), nav roles
        response = client.get(reverse("training:job-list"))
    assert len(response.context["jobs"]) == 3
    for _ in range(3):
        make_job()
    with django_assert_num_queries(4):
        response = client.get(reverse("training:job-list"))
    assert len(response.context["jobs"]) == 6


def test_researcher_member_sees_the_job_other_researchers_elsewhere_do_not(
    client, job, make_user, project
):
    colleague = make_user("colleague")
    membership_set(project=project, user=colleague, role=Role.RESEARCHER)
    client.force_login(colleague)
    assert client.get(url(job)).status_code == 200
    assert MetricPoint.objects.filter(job=job).count() == 21
