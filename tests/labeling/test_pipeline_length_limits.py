"""Length bounds and the other filter options at import: the import page and the API set them
(through the same `filters` argument as the filter stage), so long-context prompts can go in."""

import json
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import PipelineRun, PipelineStatus, Prompt, PromptStatus
from labeling.services.pipeline import (
    ERROR_LENGTH_BOUND,
    ERROR_LENGTH_ORDER,
    PipelineRunError,
    import_run_start,
    pipeline_run_execute,
    prompts_filter,
)

pytestmark = pytest.mark.django_db

SHORT = "Name a river in Spain."  # 22 characters


def long_document() -> str:
    """About 9,000 varied words (over 50,000 characters): over both default maxima."""
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "du", "sa", "po"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(9000)]
    return "Summarize this report.\n\n" + " ".join(words)


def jsonl_upload(name="prompts.jsonl"):
    rows = [{"prompt": long_document()}, {"prompt": SHORT}]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return SimpleUploadedFile(name, data, content_type="application/jsonl")


def statuses(project):
    return {
        "long" if len(p.messages[0]["content"]) > 1000 else "short": (
            p.status,
            [r["code"] for r in p.filter_reasons],
        )
        for p in Prompt.objects.filter(project=project)
    }


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_default_bounds_filter_the_long_document(project, settings, tmp_path):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    run = import_run_start(project=project, upload=jsonl_upload(), enqueue=False)
    assert pipeline_run_execute(run=run).status == PipelineStatus.SUCCEEDED
    assert statuses(project) == {
        "long": (PromptStatus.FILTERED, ["too_long"]),
        "short": (PromptStatus.ACTIVE, []),
    }


def test_api_import_sets_length_bounds_and_the_other_filter_options(
    owner, project, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=False):
        response = api(owner).post(
            f"/api/projects/{project.pk}/pipeline/import/",
            {
                "file": jsonl_upload(),
                "min_chars": 30,
                "max_chars": 200_000,
                "min_tokens": 2,
                "max_tokens": 50_000,
                "blocklist": ["casino", "lottery, jackpot"],
                "languages": "en",
                "near_dup_threshold": 0.9,
            },
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    run = PipelineRun.objects.get(pk=response.json()["id"])
    assert run.params["filters"] == {
        "min_chars": 30,
        "max_chars": 200_000,
        "min_tokens": 2,
        "max_tokens": 50_000,
        "blocklist": ["casino", "lottery", "jackpot"],
        "languages": ["en"],
        "near_dup_threshold": 0.9,
    }
    # The language filter is left out of the run: the generated document is no language.
    run.params["filters"].pop("languages")
    run.save()
    assert pipeline_run_execute(run=run).status == PipelineStatus.SUCCEEDED
    assert statuses(project) == {
        "long": (PromptStatus.ACTIVE, []),
        "short": (PromptStatus.FILTERED, ["too_short"]),
    }


def test_api_import_refuses_bad_bounds_with_a_message(owner, project, settings, tmp_path):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    url = f"/api/projects/{project.pk}/pipeline/import/"
    response = api(owner).post(
        url, {"file": jsonl_upload(), "min_chars": 500, "max_chars": 100}, format="multipart"
    )
    assert response.status_code == 400
    assert ERROR_LENGTH_ORDER.format(unit="characters") in json.dumps(response.json())
    response = api(owner).post(url, {"file": jsonl_upload(), "max_tokens": 0}, format="multipart")
    assert response.status_code == 400 and "max_tokens" in response.json()["fields"]
    assert not PipelineRun.objects.exists()


def test_api_filter_stage_takes_token_bounds(owner, project):
    response = api(owner).post(
        f"/api/projects/{project.pk}/pipeline/filter/",
        {"filters": {"min_tokens": 3, "max_tokens": 30_000}},
        format="json",
    )
    assert response.status_code == 202, response.json()
    assert PipelineRun.objects.get().params["filters"] == {"min_tokens": 3, "max_tokens": 30_000}


def test_import_page_sets_length_bounds(
    client, owner, project, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    client.force_login(owner)
    page = client.get(reverse("labeling:pipeline", args=[project.pk])).content.decode()
    for name in ("min_chars", "max_chars", "min_tokens", "max_tokens"):
        assert f'name="{name}"' in page
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("labeling:pipeline_import", args=[project.pk]),
            {
                "file": jsonl_upload(),
                "min_chars": "30",
                "max_chars": "200000",
                "min_tokens": "0",
                "max_tokens": "50000",
                "blocklist": "casino, lottery",
            },
        )
    assert response.status_code == 302
    run = PipelineRun.objects.get()
    assert run.params["filters"] == {
        "min_chars": 30,
        "max_chars": 200_000,
        "min_tokens": 0,
        "max_tokens": 50_000,
        "blocklist": ["casino", "lottery"],
    }
    assert pipeline_run_execute(run=run).status == PipelineStatus.SUCCEEDED
    assert statuses(project) == {
        "long": (PromptStatus.ACTIVE, []),
        "short": (PromptStatus.FILTERED, ["too_short"]),
    }


def test_import_page_shows_a_bounds_error_next_to_the_form(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_import", args=[project.pk]),
        {"file": jsonl_upload(), "min_tokens": "900", "max_tokens": "10"},
    )
    assert response.status_code == 400
    assert ERROR_LENGTH_ORDER.format(unit="tokens") in response.content.decode()
    assert not PipelineRun.objects.exists()


def test_filter_stage_with_raised_bounds_keeps_long_prompts(project):
    Prompt.objects.create(
        project=project,
        messages=[{"role": "user", "content": long_document()}],
        content_hash="x" * 64,
    )
    filters = {"max_chars": 200_000, "max_tokens": 50_000}
    run = pipeline_run_execute(run=prompts_filter(project=project, filters=filters, enqueue=False))
    assert run.counts == {"seen": 1, "filtered": 0, "kept": 1}
    run = pipeline_run_execute(run=prompts_filter(project=project, enqueue=False))
    assert run.counts == {"seen": 1, "filtered": 1, "kept": 0}


def test_service_refuses_a_bound_that_is_not_a_number(project):
    with pytest.raises(PipelineRunError) as error:
        prompts_filter(project=project, filters={"max_chars": "lots"}, enqueue=False)
    assert str(error.value) == ERROR_LENGTH_BOUND.format(name="max_chars")
