"""The pipeline API: researchers start stages and read runs; labelers, strangers and anonymous
callers are refused and change nothing; the run list has a pinned query count."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from labeling.models import PipelineRun, PipelineStatus, Prompt, PromptStatus
from labeling.services.pipeline import pipeline_run_execute, prompts_filter
from labeling.services.prompts import ERROR_NOT_FILTERED, prompt_bulk_create

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def upload(text="How far is the Moon from the Earth?\nhi\n", name="prompts.txt"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


@pytest.fixture
def filtered(project):
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "hi"}],
                "status": "filtered",
                "filter_reasons": [{"filter": "length", "code": "too_short", "detail": "2"}],
            }
        ],
    )
    return prompt


@pytest.fixture
def run(project):
    return prompts_filter(project=project, enqueue=False)


def test_import_uploads_the_file_and_queues_a_run(
    owner, project, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(owner).post(
            f"/api/projects/{project.pk}/pipeline/import/",
            {"file": upload(), "skip_invalid": "true"},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    run = PipelineRun.objects.get(pk=response.json()["id"])
    assert run.status == PipelineStatus.QUEUED and len(callbacks) == 1
    assert run.created_by == owner and run.params["skip_invalid"] is True
    assert run.input_name == "prompts.txt"
    assert (tmp_path / "imports").exists()
    run = pipeline_run_execute(run=run)
    assert Prompt.objects.filter(project=project).count() == 2
    body = api(owner).get(f"/api/pipeline/runs/{run.pk}/").json()
    assert body["status"] == "succeeded" and body["funnel"]["total"] == 2
    assert body["counts"]["filtered"] == 1


def test_stage_errors_are_400_with_a_message(owner, project):
    response = api(owner).post(
        f"/api/projects/{project.pk}/pipeline/synthesize/", {"drafts": True}, format="json"
    )
    assert response.status_code == 400
    assert "LLM model" in response.json()["error"]
    response = api(owner).post(
        f"/api/projects/{project.pk}/pipeline/tasks/", {"kind": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert not PipelineRun.objects.exists()


def test_each_stage_starts_a_run(owner, project):
    client = api(owner)
    base = f"/api/projects/{project.pk}/pipeline"
    assert (
        client.post(f"{base}/filter/", {"filters": {"blocklist": ["x"]}}, format="json").status_code
        == 202
    )
    assert client.post(f"{base}/tag/", {}, format="json").status_code == 202
    assert (
        client.post(f"{base}/synthesize/", {"rewrites": ["persona"]}, format="json").status_code
        == 202
    )
    assert (
        client.post(f"{base}/tasks/", {"kind": "ranking", "limit": 5}, format="json").status_code
        == 202
    )
    stages = list(PipelineRun.objects.order_by("id").values_list("stage", flat=True))
    assert stages == ["filter", "tag", "synthesize", "tasks"]
    assert PipelineRun.objects.get(stage="filter").params["filters"] == {"blocklist": ["x"]}


def test_restore_brings_a_filtered_prompt_back(owner, filtered):
    response = api(owner).post(f"/api/prompts/{filtered.pk}/restore/")
    assert response.status_code == 200
    filtered.refresh_from_db()
    assert filtered.status == PromptStatus.ACTIVE
    again = api(owner).post(f"/api/prompts/{filtered.pk}/restore/")
    assert again.json()["error"] == ERROR_NOT_FILTERED.format(id=filtered.pk)


def test_run_list_query_count_is_pinned(owner, project, django_assert_num_queries):
    for _ in range(5):
        prompts_filter(project=project, enqueue=False)
    client = api(owner)
    with django_assert_num_queries(3):  # membership, page of runs, nothing per row
        response = client.get(f"/api/projects/{project.pk}/pipeline/runs/")
    assert len(response.json()["results"]) == 5


def endpoints(project_id, run_id, prompt_id):
    base = f"/api/projects/{project_id}/pipeline"
    return [
        ("get", f"{base}/runs/", {}),
        ("post", f"{base}/import/", {"file": upload()}),
        ("post", f"{base}/filter/", {}),
        ("post", f"{base}/tag/", {}),
        ("post", f"{base}/synthesize/", {"rewrites": ["persona"]}),
        ("post", f"{base}/tasks/", {"kind": "ranking"}),
        ("get", f"/api/pipeline/runs/{run_id}/", {}),
        ("post", f"/api/prompts/{prompt_id}/restore/", {}),
    ]


@pytest.mark.parametrize("who", ["anonymous", "stranger", "labeler"])
def test_everyone_but_researchers_is_refused(who, project, run, filtered, stranger, labeler):
    client = api({"anonymous": None, "stranger": stranger, "labeler": labeler}[who])
    for method, url, data in endpoints(project.pk, run.pk, filtered.pk):
        fmt = "multipart" if "import" in url else "json"
        response = getattr(client, method)(url, data, format=fmt)
        expected = {"anonymous": (401, 403), "stranger": (404,), "labeler": (403,)}[who]
        assert response.status_code in expected, (url, response.status_code)
    assert PipelineRun.objects.count() == 1
    filtered.refresh_from_db()
    assert filtered.status == PromptStatus.FILTERED


def test_schema_documents_the_pipeline(owner):
    schema = api(owner).get("/api/schema/?format=json").json()
    assert "/api/projects/{id}/pipeline/import/" in schema["paths"] or any(
        p.endswith("/pipeline/import/") for p in schema["paths"]
    )
    assert any(p.endswith("/restore/") for p in schema["paths"])
