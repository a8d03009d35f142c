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
        "special tokens (end of turn, eos)",
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


# --------------------------------------------------------------------------- charts per kind

KIND_METRICS = {
    "sft": ({"loss": 2.0, "loss/qa": 1.8, "lr": 1e-4, "grad_norm": 0.5}, ["chart-channels"]),
    "reward": (
        {"loss": 0.6, "accuracy": 0.7, "margin": 0.4, "eval/accuracy": 0.6, "lr": 1e-3},
        ["chart-loss", "chart-reward-accuracy", "chart-reward-margin", "chart-lr"],
    ),
    "dpo": (
        {"loss": 0.69, "rewards/chosen": 0.1, "rewards/rejected": -0.1, "rewards/margins": 0.2,
         "rewards/accuracies": 0.5, "logps/chosen": -30.0, "logps/rejected": -31.0},
        ["chart-loss", "chart-dpo-rewards", "chart-dpo-margins", "chart-dpo-accuracy",
         "chart-dpo-logps"],
    ),
    "ppo": (
        {"reward": 0.5, "kl": 0.1, "ppo/entropy": 3.0, "ppo/policy_loss": -0.01,
         "ppo/value_loss": 0.3, "ppo/clipfrac": 0.1, "ppo/approx_kl": 0.01},
        ["chart-ppo-reward", "chart-ppo-kl", "chart-ppo-entropy", "chart-ppo-policy-loss",
         "chart-ppo-value-loss", "chart-ppo-clip", "chart-ppo-approx-kl"],
    ),
    "grpo": (
        {"loss": 0.0, "reward": 0.3, "reward_std": 0.2, "kl": 0.001, "entropy": 4.0,
         "completions/mean_length": 8.0},
        ["chart-online-reward", "chart-online-kl", "chart-online-entropy", "chart-loss",
         "chart-online-length"],
    ),
    "rloo": (
        {"loss": 0.0, "reward": 0.3, "kl": 0.001, "clip_ratio/region_mean": 0.0},
        ["chart-online-reward", "chart-online-kl", "chart-loss", "chart-online-clip"],
    ),
}  # fmt: skip


def job_of_kind(make_job, kind, *, steps=6, report=None):
    """A finished job row of `kind` with metrics as its trainer stores them (the page only
    reads rows, so no training is needed here)."""
    job = job_launch(job=make_job())
    TrainingJob.objects.filter(pk=job.pk).update(
        kind=kind, status=JobStatus.SUCCEEDED, data_report=report or {}
    )
    values, _ = KIND_METRICS[kind]
    for step in range(1, steps + 1):
        metric_points_record(
            job_id=job.pk, step=step, values={k: v * (1 + step / 10) for k, v in values.items()}
        )
    return TrainingJob.objects.get(pk=job.pk)


@pytest.mark.parametrize("kind", list(KIND_METRICS))
def test_job_page_of_each_kind_renders_its_charts(client, owner, make_job, kind):
    job = job_of_kind(make_job, kind)
    client.force_login(owner)
    response = client.get(url(job))
    assert response.status_code == 200
    html = response.content.decode()
    _, expected = KIND_METRICS[kind]
    ids = [c["id"] for c in response.context["charts"]]
    assert set(expected) <= set(ids)
    for chart_id in ids:
        assert f'<canvas id="{chart_id}"' in html
    assert 'id="chart-data"' in html
    if kind != "sft":
        assert "chart-channels" not in html and "chart-tokens" not in html
        titles = {d.title for d in response.context["diagnostics"]}
        assert not titles & {"Initial loss", "Memorizing", "Converged", "Special tokens"}
    # The htmx poll answers with the same charts in the live partial.
    partial = client.get(url(job), headers={"HX-Request": "true"}).content.decode()
    assert all(f'<canvas id="{chart_id}"' in partial for chart_id in ids)


def test_reward_page_draws_bars_per_task_type_and_the_distribution(client, owner, make_job):
    report = {
        "reward_eval": {
            "distribution": {
                "chosen_mean": 0.9,
                "rejected_mean": -0.2,
                "std": 0.6,
                "quantiles": {"p5": -0.9, "p25": -0.3, "p50": 0.3, "p75": 0.8, "p95": 1.2},
                "histogram": {"counts": [2.0, 5.0], "edges": [-1.0, 0.5, 2.0]},
            }
        }
    }
    job = job_of_kind(make_job, "reward", report=report)
    metric_points_record(
        job_id=job.pk,
        step=6,
        values={"eval/pairwise_accuracy": 0.8, "eval/pairwise_accuracy/qa": 0.4,
                "eval/mean_margin": 0.7, "eval/mean_margin/qa": -0.1},
    )  # fmt: skip
    client.force_login(owner)
    response = client.get(url(job))
    html = response.content.decode()
    charts = {c["id"]: c for c in response.context["charts"]}
    assert charts["chart-reward-task-accuracy"]["labels"] == ["all", "qa"]
    assert 'aria-label="Validation accuracy per task type (step 6) by task type"' in html
    assert "chosen mean 0.900 · rejected mean -0.200 · std 0.600" in html
    diagnostics = {d.title: d for d in response.context["diagnostics"]}
    assert diagnostics["Pairwise accuracy"].level == "ok"
    assert "qa 40%" in diagnostics["Weak task types"].text


def test_ppo_samples_are_shown_as_escaped_text_newest_first(client, owner, make_job):
    samples = [
        {"step": 2, "prompt": "What is 2+2?", "response": "Four <b>bold</b>", "score": 0.25},
        {"step": 4, "prompt": "Say thanks", "response": "Thank you!", "score": 1.5},
    ]
    job = job_of_kind(make_job, "ppo", report={"prompts": {"train": 9}, "samples": samples})
    client.force_login(owner)
    html = client.get(url(job)).content.decode()
    assert 'id="samples-h"' in html
    assert "Four &lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert html.index("Thank you!") < html.index("Four &lt;b&gt;")  # newest first
    assert 'Step 4 · score <span class="mono">1.500</span>' in html


def test_job_without_metrics_says_when_charts_appear(client, owner, make_job):
    job = job_launch(job=make_job())
    client.force_login(owner)
    response = client.get(url(job))
    html = response.content.decode()
    assert response.context["charts"] == []
    assert "Charts appear here once the run logs its first metrics." in html
    assert 'id="chart-data"' not in html and 'id="samples-h"' not in html
