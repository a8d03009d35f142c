"""Drafts go to prompts with no draft yet (a log's or a file's answer is not one), those first,
so a rerun moves on and says when none is left; a demonstration task edits the draft. Failed
drafts, candidates, LLM rewrites and tags name their prompt by id on the run, the page, the API and
the command."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from flywheel.testing.openai_server import Reply
from labeling.models import Completion, PipelineStatus, Task
from labeling.services.pipeline import (
    WARNING_NOTHING_TO_DRAFT,
    pipeline_run_execute,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db

QUESTIONS = [
    "How do I keep basil alive on a windowsill?",
    "What is a good first houseplant for a dark flat?",
    "How often should I water a snake plant?",
]


def seed_with_log_answers(project):
    return prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": q}],
                "source": "logs",
                "completions": [{"text": f"prod-v3 said something about: {q}", "model_name": "v3"}],
            }
            for q in QUESTIONS
        ],
    )


def drafts(project, llm_server, **options):
    run = prompts_synthesize(
        project=project,
        drafts=True,
        llm_model="strong",
        llm_base_url=llm_server.base_url,
        enqueue=False,
        **options,
    )
    return pipeline_run_execute(run=run)


def drafted(prompt):
    return list(prompt.completions.filter(meta__draft=True).values_list("text", flat=True))


def test_prompts_with_a_log_answer_get_a_draft_and_a_rerun_moves_on(project, llm_server):
    first, second, third = seed_with_log_answers(project)
    llm_server.respond_with(lambda request: f"Draft for: {request['messages'][-1]['content']}")

    run = drafts(project, llm_server, limit=2)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["drafts"] == 2 and run.warnings == []
    assert drafted(first) == [f"Draft for: {QUESTIONS[0]}"]
    assert drafted(second) == [f"Draft for: {QUESTIONS[1]}"]
    assert drafted(third) == []
    assert run.total == run.done == 2  # progress counts the prompts drafted

    again = drafts(project, llm_server, limit=2)
    assert again.counts["drafts"] == 1 and again.total == 1
    assert drafted(third) == [f"Draft for: {QUESTIONS[2]}"]
    assert [len(drafted(p)) for p in (first, second, third)] == [1, 1, 1]

    done = drafts(project, llm_server, limit=2)
    assert done.status == PipelineStatus.SUCCEEDED
    assert done.counts["drafts"] == 0
    assert done.warnings == [{"code": "nothing_to_draft", "message": WARNING_NOTHING_TO_DRAFT}]
    assert Completion.objects.filter(meta__draft=True).count() == 3
    assert len(llm_server.requests) == 3  # nothing asked twice


def test_a_demonstration_task_edits_the_draft_not_the_log_answer(project, llm_server):
    (prompt, *_) = seed_with_log_answers(project)
    llm_server.respond_with(lambda request: "A careful strong-model draft.")
    drafts(project, llm_server, limit=1)

    run = pipeline_run_execute(
        run=tasks_create_from_prompts(
            project=project, kind="demonstration", limit=1, gold_share=0, enqueue=False
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    task = Task.objects.get(prompt=prompt)
    (link,) = task.task_completions.all()
    assert link.completion.text == "A careful strong-model draft."
    assert link.completion.meta == {"draft": True}


def failing_for(question):
    def answer(request):
        text = request["messages"][-1]["content"]
        if question in text:
            return Reply(status=400, error_message="the model refused this one")
        if request["messages"][0]["role"] == "system":  # an LLM rewrite asks for JSON
            return Reply('{"prompt": "A new way to ask it."}')
        return "An answer."

    return answer


def test_failed_drafts_candidates_and_rewrites_name_their_prompt(project, llm_server, owner):
    prompts = seed_with_log_answers(project)
    broken = prompts[1]
    llm_server.respond_with(failing_for(QUESTIONS[1]))
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            drafts=True,
            candidates=3,
            llm_rewrite="Make it harder.",
            llm_model="strong",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    by_step = {}
    for failure in run.failures:
        by_step.setdefault(failure["step"], []).append(failure)
    assert set(by_step) == {"llm_rewrite", "draft", "candidate"}
    assert {f["prompt"] for f in run.failures} == {broken.pk}
    assert [f["key"] for f in by_step["llm_rewrite"]] == [broken.content_hash]
    assert [f["key"] for f in by_step["draft"]] == [f"{broken.content_hash}#0"]
    # Each of the three candidate slots was asked for, and failed.
    assert sorted(f["key"] for f in by_step["candidate"]) == [
        f"{broken.content_hash}#{j}" for j in range(3)
    ]
    assert all("the model refused this one" in f["reason"] for f in run.failures)

    # The run page shows the prompt's id; the API returns it.
    client = APIClient()
    client.force_authenticate(owner)
    body = client.get(f"/api/pipeline/runs/{run.pk}/").json()
    assert {f["prompt"] for f in body["failures"]} == {broken.pk}
    client.force_login(owner)
    html = client.get(reverse("labeling:pipeline_run", args=[run.pk])).content.decode()
    assert f"#{broken.pk}</td><td>draft</td>" in html
    assert broken.content_hash in html  # the whole key, not cut short


def test_the_command_prints_the_failed_prompts_id(project, llm_server):
    prompts = seed_with_log_answers(project)
    llm_server.respond_with(failing_for(QUESTIONS[2]))
    err = StringIO()
    call_command(
        "synthesize_prompts",
        "--project",
        project.slug,
        "--drafts",
        "--llm-model",
        "strong",
        "--llm-base-url",
        llm_server.base_url,
        stdout=StringIO(),
        stderr=err,
    )
    digest = prompts[2].content_hash
    assert f"failed: draft prompt #{prompts[2].pk} ({digest}#0): " in err.getvalue()
    assert "the model refused this one" in err.getvalue()


def test_a_failed_tag_names_its_prompt(project, llm_server):
    prompts = seed_with_log_answers(project)

    def tag(request):
        text = request["messages"][-1]["content"]
        return Reply('{"task_type": "astrology"}' if "snake" in text else '{"task_type": "qa"}')

    llm_server.respond_with(tag)
    run = pipeline_run_execute(
        run=prompts_tag(
            project=project,
            llm_model="tagger",
            llm_base_url=llm_server.base_url,
            retag=True,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    (failure,) = run.failures
    assert (failure["prompt"], failure["step"]) == (prompts[2].pk, "tag")
    assert failure["key"] == str(prompts[2].pk) and "astrology" in failure["reason"]
