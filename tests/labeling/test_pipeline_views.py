"""Pipeline pages: researchers start stages and read runs; the run page polls until done and
then stops; errors come back next to the form; labelers, strangers and anonymous are refused."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import PipelineRun, PipelineStatus, Prompt, PromptStatus
from labeling.services.pipeline import (
    import_run_start,
    pipeline_run_execute,
    prompts_filter,
)
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def filtered(project):
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "hi"}],
                "status": "filtered",
                "filter_reasons": [
                    {"filter": "length", "code": "too_short", "detail": "2 characters, under 8"}
                ],
            }
        ],
    )
    return prompt


def test_page_shows_forms_runs_and_filtered_prompts(client, owner, project, filtered):
    prompts_filter(project=project, enqueue=False)
    client.force_login(owner)
    response = client.get(reverse("labeling:pipeline", args=[project.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Import a file" in html and "Create tasks" in html
    assert "2 characters, under 8" in html
    assert reverse("labeling:prompt_restore", args=[filtered.pk]) in html


def test_page_query_count_is_pinned(client, owner, project, django_assert_num_queries):
    for _ in range(10):
        prompts_filter(project=project, enqueue=False)
    client.force_login(owner)
    url = reverse("labeling:pipeline", args=[project.pk])
    client.get(url)
    # session, user, membership (+ nav roles), runs, filtered prompts: not one per run
    with django_assert_num_queries(7):
        client.get(url)


def test_upload_starts_an_import_and_the_run_page_polls_until_done(
    client, owner, project, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    client.force_login(owner)
    file = SimpleUploadedFile("p.jsonl", b'{"prompt": "Name a river in Spain."}\nnot json\n')
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("labeling:pipeline_import", args=[project.pk]),
            {"file": file, "skip_invalid": "on", "blocklist": "casino"},
        )
    run = PipelineRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("labeling:pipeline_run", args=[run.pk])
    assert run.params["filters"] == {"blocklist": ["casino"], "near_dup_threshold": None} or (
        run.params["filters"]["blocklist"] == ["casino"]
    )
    url = reverse("labeling:pipeline_run", args=[run.pk])
    polled = client.get(url, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'hx-trigger="every 1s"' in polled.content.decode()
    pipeline_run_execute(run=run)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx: stop polling
    html = done.content.decode()
    assert "hx-trigger" not in html
    assert "Rejected rows" in html and "not valid JSON" in html
    assert "Funnel" in html
    assert Prompt.objects.filter(project=project).count() == 1


def test_failed_import_says_what_to_do(client, owner, project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n")
    run = pipeline_run_execute(run=import_run_start(project=project, path=path, enqueue=False))
    assert run.status == PipelineStatus.FAILED
    client.force_login(owner)
    html = client.get(reverse("labeling:pipeline_run", args=[run.pk])).content.decode()
    assert "What happened" in html and "Skip bad rows" in html


def test_stage_error_comes_back_next_to_the_form(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_stage", args=[project.pk, "synthesize"]), {"limit": 5}
    )
    assert response.status_code == 400
    assert "Choose rewrites" in response.content.decode()
    assert not PipelineRun.objects.exists()


def test_tasks_form_starts_a_run(client, owner, project, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("labeling:pipeline_stage", args=[project.pk, "tasks"]),
            {"kind": "demonstration", "limit": 10},
        )
    assert response.status_code == 302
    run = PipelineRun.objects.get()
    assert run.stage == "tasks" and run.params["kind"] == "demonstration"
    assert len(callbacks) == 1


def test_restore_from_the_page(client, owner, filtered):
    client.force_login(owner)
    response = client.post(reverse("labeling:prompt_restore", args=[filtered.pk]))
    assert response.status_code == 302
    filtered.refresh_from_db()
    assert filtered.status == PromptStatus.ACTIVE


@pytest.mark.parametrize("who", ["anonymous", "stranger", "labeler"])
def test_others_are_refused(client, who, project, filtered, stranger, labeler):
    run = prompts_filter(project=project, enqueue=False)
    if who != "anonymous":
        client.force_login({"stranger": stranger, "labeler": labeler}[who])
    calls = [
        ("get", reverse("labeling:pipeline", args=[project.pk])),
        ("post", reverse("labeling:pipeline_import", args=[project.pk])),
        ("post", reverse("labeling:pipeline_stage", args=[project.pk, "tag"])),
        ("get", reverse("labeling:pipeline_run", args=[run.pk])),
        ("post", reverse("labeling:prompt_restore", args=[filtered.pk])),
    ]
    for method, url in calls:
        response = getattr(client, method)(url)
        if who == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"], url
        else:
            assert response.status_code == {"stranger": 404, "labeler": 403}[who], url
    assert PipelineRun.objects.count() == 1
    filtered.refresh_from_db()
    assert filtered.status == PromptStatus.FILTERED


def test_running_run_shows_an_eta(client, owner, project):
    from datetime import timedelta

    from django.utils import timezone

    run = prompts_filter(project=project, enqueue=False)
    PipelineRun.objects.filter(pk=run.pk).update(
        status=PipelineStatus.RUNNING,
        started_at=timezone.now() - timedelta(minutes=10),
        done=50,
        total=100,
    )
    run.refresh_from_db()
    eta = run.eta_at - timezone.now()
    assert timedelta(minutes=9) < eta < timedelta(minutes=11)
    client.force_login(owner)
    html = client.get(reverse("labeling:pipeline_run", args=[run.pk])).content.decode()
    assert "minutes left" in html and 'hx-trigger="every 1s"' in html


def test_synthesize_form_and_api_take_an_llm_rewrite(client, owner, project):
    client.force_login(owner)
    page = client.get(reverse("labeling:pipeline", args=[project.pk])).content.decode()
    assert 'name="llm_rewrite"' in page
    response = client.post(
        reverse("labeling:pipeline_stage", args=[project.pk, "synthesize"]),
        {"llm_rewrite": "make it harder", "limit": 5},
    )
    assert response.status_code == 400  # an LLM rewrite needs the model
    assert "Name the LLM model" in response.content.decode()
    response = client.post(
        reverse("labeling:pipeline_stage", args=[project.pk, "synthesize"]),
        {"llm_rewrite": "make it harder", "llm_model": "m", "limit": 5},
    )
    assert response.status_code == 302
    assert PipelineRun.objects.get().params["llm_rewrite"] == "make it harder"
    response = client.post(
        f"/api/projects/{project.pk}/pipeline/synthesize/",
        {"llm_rewrite": "shorter", "llm_model": "m"},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert PipelineRun.objects.order_by("id").last().params["llm_rewrite"] == "shorter"
