"""Prices given on the pipeline page and the API reach the run; the run page and the
API show its tokens, cost and warnings."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import PipelineRun, PipelineStatus
from labeling.services.pipeline import pipeline_run_execute, tasks_create_from_prompts
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


def test_page_form_passes_the_prices_to_the_run(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_stage", args=[project.pk, "synthesize"]),
        {
            "llm_model": "big-model",
            "drafts": "on",
            "limit": 5,
            "price_prompt_per_mtok": "2.5",
            "price_completion_per_mtok": "10",
        },
    )
    run = PipelineRun.objects.get()
    assert response.status_code == 302
    llm = run.params["llm"]
    assert (llm["model"], llm["price_prompt_per_mtok"], llm["price_completion_per_mtok"]) == (
        "big-model",
        2.5,
        10.0,
    )


def test_page_form_refuses_a_negative_price_next_to_the_field(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_stage", args=[project.pk, "tag"]),
        {"llm_model": "m", "price_prompt_per_mtok": "-1"},
    )
    assert response.status_code == 400
    assert "greater than or equal to 0" in response.content.decode()
    assert not PipelineRun.objects.exists()


def test_api_tag_takes_prices_and_the_run_shows_warnings(owner, project):
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(
        f"/api/projects/{project.pk}/pipeline/tag/",
        {"llm_model": "m", "price_prompt_per_mtok": 1.25, "price_completion_per_mtok": 5},
        format="json",
    )
    assert response.status_code == 202, response.json()
    run = PipelineRun.objects.get(pk=response.json()["id"])
    assert run.params["llm"]["price_prompt_per_mtok"] == 1.25
    refused = api.post(
        f"/api/projects/{project.pk}/pipeline/tag/",
        {"llm_model": "m", "price_completion_per_mtok": -5},
        format="json",
    )
    assert refused.status_code == 400
    assert "price_completion_per_mtok" in refused.json()["fields"]

    prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": "Hi?"}]}]
    )
    tasks = pipeline_run_execute(
        run=tasks_create_from_prompts(project=project, kind="ranking", enqueue=False)
    )
    body = api.get(f"/api/pipeline/runs/{tasks.pk}/").json()
    assert body["warnings"][0]["code"] == "too_few_answers"


def test_run_page_shows_tokens_cost_prices_and_warnings(client, owner, project):
    run = PipelineRun.objects.create(
        project=project,
        stage="synthesize",
        status=PipelineStatus.SUCCEEDED,
        params={
            "llm": {
                "model": "big-model",
                "base_url": "http://x/v1",
                "price_prompt_per_mtok": 2.5,
                "price_completion_per_mtok": 10.0,
            }
        },
        counts={"drafts": 3},
        prompt_tokens=1200,
        completion_tokens=300,
        cost_usd=0.006,
        warnings=[{"code": "gold_short", "message": "Only 1 of these prompts carry a gold answer"}],
    )
    client.force_login(owner)
    html = client.get(reverse("labeling:pipeline_run", args=[run.pk])).content.decode()
    assert "1200 / 300" in html
    assert '<dd id="run-cost">0.006000</dd>' in html
    assert "at $2.5 in and $10.0 out per million tokens" in html
    assert "Only 1 of these prompts carry a gold answer" in html
    assert "of 0 steps" not in html and "steps" in html


def test_run_page_says_when_no_prices_were_given(client, owner, project):
    run = PipelineRun.objects.create(
        project=project,
        stage="tag",
        status=PipelineStatus.SUCCEEDED,
        params={"llm": {"model": "m", "base_url": "http://x/v1"}},
        prompt_tokens=10,
    )
    client.force_login(owner)
    html = client.get(reverse("labeling:pipeline_run", args=[run.pk])).content.decode()
    assert "no prices were given, so the cost is not counted" in html
