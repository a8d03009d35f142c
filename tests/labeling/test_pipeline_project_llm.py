"""A project's own LLM and languages: the pipeline's runs use them when a run names none, so a
researcher sets them once (the issue's "when the project has an LLM configured" and "language
when the project asks for one")."""

import json

import pytest

from flywheel.testing.openai_server import Reply
from labeling.admin import ERROR_LANGUAGES
from labeling.models import PromptStatus
from labeling.services.pipeline import (
    ERROR_LLM_MODEL,
    PipelineRunError,
    pipeline_run_execute,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
)
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


def seed(project, texts):
    return prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": t}]} for t in texts]
    )


def configure(project, llm_server):
    project.llm_model = "house-model"
    project.llm_base_url = llm_server.base_url
    project.llm_price_prompt_per_mtok = 2.0
    project.llm_price_completion_per_mtok = 8.0
    project.save()


def test_a_tag_run_without_a_model_uses_the_projects_llm_and_prices(project, llm_server):
    configure(project, llm_server)
    seed(project, ["Write a Python function to sort a list.", "Who wrote Hamlet?"])
    llm_server.respond_with(lambda request: Reply(json.dumps({"task_type": "qa"})))
    run = pipeline_run_execute(run=prompts_tag(project=project, enqueue=False))
    assert run.status == "succeeded", run.error
    assert run.params["llm"] == {
        "model": "house-model",
        "base_url": llm_server.base_url,
        "price_prompt_per_mtok": 2.0,
        "price_completion_per_mtok": 8.0,
    }
    assert run.counts["llm"] == 2 and run.prompt_tokens > 0
    expected = (run.prompt_tokens * 2.0 + run.completion_tokens * 8.0) / 1e6
    assert run.cost_usd == pytest.approx(expected)
    # A run that names its own model keeps it.
    other = prompts_tag(project=project, llm_model="other", enqueue=False)
    assert other.params["llm"]["model"] == "other"


def test_without_a_project_llm_the_llm_steps_still_need_a_model(project, llm_server):
    with pytest.raises(PipelineRunError) as exc:
        prompts_synthesize(project=project, drafts=True, enqueue=False)
    assert str(exc.value) == ERROR_LLM_MODEL
    assert prompts_tag(project=project, enqueue=False).params.get("llm") is None  # rules only
    configure(project, llm_server)
    run = prompts_synthesize(project=project, drafts=True, enqueue=False)
    assert run.params["llm"]["model"] == "house-model"


def test_the_projects_languages_filter_when_a_run_names_none(project):
    project.languages = ["en"]
    project.save()
    english, german = seed(
        project,
        [
            "Please explain how the water cycle works for a school project about weather.",
            "Bitte erkläre mir, wie der Wasserkreislauf funktioniert, für ein Schulprojekt.",
        ],
    )
    run = pipeline_run_execute(run=prompts_filter(project=project, enqueue=False))
    assert run.params["filters"]["languages"] == ["en"]
    english.refresh_from_db()
    german.refresh_from_db()
    assert (english.status, german.status) == (PromptStatus.ACTIVE, PromptStatus.FILTERED)
    # A run's own languages win.
    run = prompts_filter(project=project, filters={"languages": ["de"]}, enqueue=False)
    assert run.params["filters"]["languages"] == ["de"]


def test_the_admin_edits_and_checks_the_llm_and_languages(admin_client, project):
    url = f"/admin/labeling/project/{project.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="llm_model"' in page and 'name="languages"' in page
    form = {
        "name": project.name, "slug": project.slug, "description": "",
        "guidelines": project.guidelines, "task_types": '["qa"]', "k_outputs": 2, "overlap": 1,
        "claim_timeout_minutes": 15, "gold_rate": 0, "rubric": "[]", "rubric_anchors": "{}",
        "rubric_scale_min": 1, "rubric_scale_max": 5, "answer_rating_max": 0,
        "llm_model": "house-model", "llm_price_prompt_per_mtok": 1.5,
        "llm_price_completion_per_mtok": 6, "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }  # fmt: skip
    response = admin_client.post(url, {**form, "languages": '["english"]'})
    assert response.status_code == 200
    assert ERROR_LANGUAGES in response.content.decode().replace("&quot;", '"')
    response = admin_client.post(url, {**form, "languages": '["en", "de"]'})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.languages, project.llm_model) == (["en", "de"], "house-model")
    assert project.llm_price_completion_per_mtok == 6
