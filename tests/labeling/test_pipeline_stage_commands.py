"""The filter, tag, synthesize and tasks stages from the command line: each command calls the
stage's service, runs it here and now, prints progress and the result, and exits non-zero with
the service's message on bad input or a failed run."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from flywheel.testing.openai_server import Reply
from labeling.models import (
    Completion,
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    Prompt,
    PromptStatus,
    Task,
)
from labeling.services.pipeline import (
    ERROR_GOLD_SHARE,
    ERROR_LENGTH_ORDER,
    ERROR_LLM_MODEL,
    ERROR_SYNTH_COUNTS,
    ERROR_TEMPERATURES,
    PipelineRunError,
)
from labeling.services.pipeline import execute as pipeline_execute
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


def run_command(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def seed(project, texts, **extra):
    return prompt_bulk_create(
        project=project,
        prompts=[{"messages": [{"role": "user", "content": t}], **extra} for t in texts],
    )


def test_filter_prompts_filters_with_the_options_and_prints_the_funnel(project):
    bad, good = seed(
        project, ["Tell me about the zorblax protocol in detail.", "What is the speed of light?"]
    )
    out, _ = run_command(
        "filter_prompts", "--project", project.slug, "--blocklist", "zorblax", "--max-chars", 500
    )
    run = PipelineRun.objects.get()
    assert (run.stage, run.status) == (PipelineStage.FILTER, PipelineStatus.SUCCEEDED)
    assert run.params["filters"] == {"max_chars": 500, "blocklist": ["zorblax"]}
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, good.status) == (PromptStatus.FILTERED, PromptStatus.ACTIVE)
    assert f"run {run.pk} succeeded: 2 of 2 prompts" in out
    assert "seen 2, filtered 1, kept 1" in out
    assert "funnel: 2 checked, 1 kept" in out
    assert "blocklist: removed 1 (blocked_term 1)" in out


def test_tag_prompts_with_an_llm_prints_progress_tokens_and_cost(project, llm_server):
    seed(project, ["Write a Python function to sort a list.", "Who wrote Hamlet?"])
    llm_server.respond_with(lambda request: Reply(json.dumps({"task_type": "qa"})))
    out, err = run_command(
        "tag_prompts",
        "--project",
        project.slug,
        "--llm-model",
        "scripted",
        "--llm-base-url",
        llm_server.base_url,
        "--price-in",
        "3",
        "--price-out",
        "15",
    )
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert set(Prompt.objects.values_list("task_type", flat=True)) == {"qa"}
    assert "  0/2 prompts" in out and "  2/2 prompts" in out
    assert "disagreements 1" in out
    expected = (run.prompt_tokens * 3 + run.completion_tokens * 15) / 1_000_000
    assert run.cost_usd == pytest.approx(expected) and run.cost_usd > 0
    assert (
        f"scripted: {run.prompt_tokens} tokens in / {run.completion_tokens} out; "
        f"cost ${run.cost_usd:.6f} (at $3 in / $15 out per million)"
    ) in out
    assert err == ""


def test_synthesize_prompts_drafts_candidates_and_rewrites_and_lists_failures(project, llm_server):
    (prompt,) = seed(project, ["Suggest a name for a hiking club."])

    def answer(request):
        if request["model"] == "broken":
            return Reply(status=400, error_message="no such model")
        return f"{request['model']} says: Trail Blazers"

    llm_server.respond_with(answer)
    out, err = run_command(
        "synthesize_prompts",
        "--project",
        project.slug,
        "--rewrite",
        "json_output",
        "--candidates",
        2,
        "--candidate-model",
        "alpha",
        "--candidate-model",
        "broken",
        "--llm-model",
        "alpha",
        "--llm-base-url",
        llm_server.base_url,
    )
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert Prompt.objects.filter(meta__origin__isnull=False).count() == 1
    assert list(Completion.objects.filter(prompt=prompt).values_list("model_name", flat=True)) == [
        "alpha"
    ]
    assert "rewrites 1, candidates 1, candidate failures 1" in out
    assert "no prices given, cost not counted" in out
    assert "failed: " in err and "no such model" in err


def test_create_tasks_reports_prompts_left_out_and_unmet_gold(project):
    project.k_outputs = 3
    project.save()
    answers = [{"text": f"Answer {i}", "model_name": "m"} for i in range(3)]
    seed(project, ["Suggest a name for a bakery."], completions=answers)
    seed(project, ["Suggest a name for a cafe."], completions=answers[:2])
    out, err = run_command(
        "create_tasks", "--project", project.slug, "--kind", "ranking", "--gold-share", "1"
    )
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert Task.objects.count() == 1
    assert "tasks 1, gold 0, gold wanted 1, skipped too few answers 1" in out
    assert "warning: 1 prompt(s) have fewer than the 3 answers a ranking task needs" in err
    assert "warning: The gold share asks for 1 gold task(s)" in err


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("filter_prompts", ["--min-chars", 50, "--max-chars", 10], ERROR_LENGTH_ORDER),
        ("synthesize_prompts", ["--drafts"], ERROR_LLM_MODEL),
        ("synthesize_prompts", ["--candidates", 99, "--llm-model", "m"], ERROR_SYNTH_COUNTS),
        ("create_tasks", ["--kind", "ranking", "--gold-share", "1.5"], ERROR_GOLD_SHARE),
    ],
)
def test_bad_options_exit_with_the_services_message_and_start_nothing(project, name, args, message):
    with pytest.raises(CommandError) as error:
        run_command(name, "--project", project.slug, *args)
    assert str(error.value) == message.format(unit="characters")
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("filter_prompts", []),
        ("tag_prompts", []),
        ("synthesize_prompts", ["--drafts"]),
        ("create_tasks", ["--kind", "ranking"]),
    ],
)
def test_unknown_project_is_refused(project, name, args):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        run_command(name, "--project", "nope", *args)


def test_unknown_task_kind_is_refused_by_the_parser(project):
    with pytest.raises(CommandError, match="invalid choice: 'essay'"):
        run_command("create_tasks", "--project", project.slug, "--kind", "essay")


def test_a_failed_run_exits_non_zero_with_its_error(project, monkeypatch):
    seed(project, ["Who wrote Hamlet?"])

    def broken(run):
        raise PipelineRunError("the tagger broke")

    monkeypatch.setattr(pipeline_execute, "_tag", broken)
    with pytest.raises(CommandError, match="the tagger broke"):
        run_command("tag_prompts", "--project", project.slug)
    assert PipelineRun.objects.get().status == PipelineStatus.FAILED


def test_synthesize_prompts_llm_rewrite_keeps_each_new_prompt_linked_and_lists_failures(
    project, llm_server
):
    seed(project, ["Explain photosynthesis.", "Explain tides, please."])

    def rewrite(request):
        asked = request["messages"][-1]["content"]
        assert "Instruction: make it harder for an expert" in asked
        if "tides" in asked:
            return Reply(json.dumps({"nothing": "here"}))  # no "prompt" key: a failed item
        return Reply(json.dumps({"prompt": "Explain the light reactions in C4 plants."}))

    llm_server.respond_with(rewrite)
    out, err = run_command(
        "synthesize_prompts", "--project", project.slug,
        "--llm-rewrite", "make it harder for an expert",
        "--llm-model", "alpha", "--llm-base-url", llm_server.base_url,
        "--price-in", 1, "--price-out", 2,
    )  # fmt: skip
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.params["llm_rewrite"] == "make it harder for an expert"
    (new,) = Prompt.objects.filter(meta__rewrite="llm")
    assert new.messages[-1]["content"] == "Explain the light reactions in C4 plants."
    assert new.meta["instruction"] == "make it harder for an expert"
    assert new.meta["origin"] and new.source == "synthesis:rewrite"
    assert run.counts == {"llm_rewrites": 1, "llm_rewrite_failures": 1}
    assert len(run.failures) == 1
    assert (run.done, run.total) == (2, 2)
    assert run.prompt_tokens > 0 and run.cost_usd > 0
    assert "llm rewrites 1, llm rewrite failures 1" in out
    assert "failed: " in err


def test_an_llm_rewrite_needs_a_model(project):
    seed(project, ["Explain photosynthesis."])
    with pytest.raises(CommandError) as exc:
        run_command("synthesize_prompts", "--project", project.slug, "--llm-rewrite", "shorter")
    assert str(exc.value) == ERROR_LLM_MODEL
    assert not PipelineRun.objects.exists()


def test_candidates_from_models_at_several_temperatures(project, llm_server):
    """N models or sampling settings take the K slots in turn: each model at each temperature."""
    (prompt,) = seed(project, ["Suggest a name for a hiking club."])
    asked = []

    def answer(request):
        asked.append((request["model"], request["temperature"]))
        return f"{request['model']} at {request['temperature']}: Trail Blazers"

    llm_server.respond_with(answer)
    run_command(
        "synthesize_prompts", "--project", project.slug, "--candidates", 4,
        "--candidate-model", "alpha", "--candidate-model", "beta",
        "--candidate-temperature", 0.2, "--candidate-temperature", 1.0,
        "--llm-model", "alpha", "--llm-base-url", llm_server.base_url,
    )  # fmt: skip
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.params["candidate_temperatures"] == [0.2, 1.0]
    assert sorted(asked) == [("alpha", 0.2), ("alpha", 1.0), ("beta", 0.2), ("beta", 1.0)]
    made = {
        (c.model_name, c.params["temperature"]) for c in Completion.objects.filter(prompt=prompt)
    }
    assert made == set(asked)


def test_candidate_temperatures_are_checked(project):
    with pytest.raises(CommandError) as exc:
        run_command(
            "synthesize_prompts", "--project", project.slug, "--candidates", 2,
            "--candidate-temperature", 3, "--llm-model", "m",
        )  # fmt: skip
    assert str(exc.value) == ERROR_TEMPERATURES
    assert not PipelineRun.objects.exists()
