"""The pipeline demo (`manage.py demo_setup`) runs every stage through the services with the
scripted demo model, and each run shows what a researcher should see on its page."""

import io
import math

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from labeling.models import (
    Completion,
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    Project,
    Prompt,
    PromptStatus,
    Task,
    TaskKind,
)
from labeling.pipeline.demo import (
    CANDIDATES,
    DEMO_LOG,
    HH_RLHF,
    LLM_REWRITE,
    MT_BENCH,
    SELF_INSTRUCT,
    TAGGER_PRICES,
    WRITER_PRICES,
)
from labeling.pipeline.demo_llm import (
    CANDIDATE_MODELS,
    FALLBACK_ANSWER,
    SCRIPTED_NOTE,
    TAGGER_MODEL,
    WRITER_MODEL,
)

pytestmark = pytest.mark.django_db

# The loaders after the pipeline's own are left out; the labeling demo runs first, as in
# `make demo`, so the pipeline works on a project that has prompts already.
LATER = ["labeling.exports", "training", "evaluation"]
PIPELINE_ONLY = [*LATER, "labeling.pipeline.demo_"]  # not structured synthesis nor tasks


def demo_setup(skip):
    out = io.StringIO()
    call_command("demo_setup", skip=skip, stdout=out)
    return Project.objects.get(slug="demo"), out.getvalue()


def run_of(project, stage, **lookup):
    return PipelineRun.objects.get(project=project, stage=stage, **lookup)


def cost(run, prices):
    return (run.prompt_tokens * prices[0] + run.completion_tokens * prices[1]) / 1_000_000


def test_log_import_takes_the_last_14_days_and_keeps_what_the_filters_removed():
    project, out = demo_setup(PIPELINE_ONLY)
    run = run_of(project, PipelineStage.IMPORT, input_name=DEMO_LOG.name)
    assert run.status == PipelineStatus.SUCCEEDED
    assert run.params["since"].startswith("2026-11-06")
    # 24 rows: 3 from October are outside the window, 1 has no user id (skipped, reported).
    assert (run.counts["rows"], run.counts["too_old"], run.counts["rejected"]) == (21, 3, 1)
    logs = Prompt.objects.filter(project=project, source=DEMO_LOG.name)
    texts = [p.messages[-1]["content"] for p in logs]
    assert not any("kitten" in t or "farmers' market" in t for t in texts)
    # The funnel removed 5 (a near duplicate, too short, a repetition loop, mojibake, German):
    # kept as filtered prompts with their reasons, nothing deleted.
    filtered = logs.filter(status=PromptStatus.FILTERED)
    assert {r["filter"] for p in filtered for r in p.filter_reasons} == {
        "near_duplicate",
        "length",
        "repetition",
        "garbage",
        "language",
    }
    assert logs.filter(status=PromptStatus.ACTIVE).count() == run.funnel["kept"] == 14
    card = logs.get(meta__user_id="u-103").messages[-1]["content"]
    assert "[CREDIT_CARD]" in card and "[EMAIL]" in card and "4111" not in card
    assert (
        Prompt.objects.filter(project=project, source="synthesis:rewrite")
        .exclude(meta__rewrite="llm")
        .count()
        == 6
    )
    assert "line 24 rejected: missing field 'user_id'" in out
    assert "21 log rows since 2026-11-06 (3 older skipped)" in out


def test_mt_bench_and_hh_rlhf_imports_keep_turns_references_and_preferred_answers():
    project, _ = demo_setup(PIPELINE_ONLY)
    for path, rows in ((MT_BENCH, 80), (HH_RLHF, 200)):
        run = run_of(project, PipelineStage.IMPORT, input_name=path.name)
        assert run.status == PipelineStatus.SUCCEEDED
        assert run.counts["rows"] == rows and run.counts["prompts"] == rows
    bench = Prompt.objects.filter(project=project, source=MT_BENCH.name)
    math_question = bench.get(meta__question_id=111)
    assert math_question.task_type == "math" and math_question.meta["reference"]
    assert len(math_question.meta["followup_turns"]) == 1
    pairs = Prompt.objects.filter(project=project, source=HH_RLHF.name)
    # Each pair: the chosen answer preferred, the rejected not (one pair of the file has the
    # same text twice, which is one answer and no preference).
    marks = [
        sorted(c.meta.get("preferred") for c in p.completions.all())
        for p in pairs.prefetch_related("completions")
    ]
    two = [m for m in marks if len(m) == 2]
    assert len(two) > 190 and all(m == [False, True] for m in two)


def test_llm_tag_run_lists_where_the_scripted_model_disagrees_with_the_rules():
    project, out = demo_setup(PIPELINE_ONLY)
    run = run_of(project, PipelineStage.TAG)
    assert run.status == PipelineStatus.SUCCEEDED
    assert run.params["llm"]["model"] == TAGGER_MODEL
    planted = [
        ("Explain the difference between a process and a thread", "qa", "code"),
        ("Our staging server", "qa", "code"),
        ("Rewrite this message to sound more formal", "qa", "creative"),
    ]
    assert sorted(
        (next(start for start, _, _ in planted if d["text"].startswith(start)), d["rule"], d["llm"])
        for d in run.disagreements
    ) == sorted(planted)
    for d in run.disagreements:
        prompt = Prompt.objects.get(pk=d["prompt"])
        assert prompt.task_type == d["llm"] and prompt.meta["rule_task_type"] == d["rule"]
    # One answer outside the project's labels is a failure; the prompt keeps the rules' type.
    [failure] = run.failures
    bakery = Prompt.objects.get(pk=int(failure["key"]))
    assert "bakery" in bakery.messages[-1]["content"] and bakery.task_type == "qa"
    assert failure["reason"] == "the model answered 'brainstorming', which is not one of the labels"
    assert run.counts["llm"] + run.counts["llm_failures"] == run.counts["rules"] > 200
    assert run.prompt_tokens > 0 and run.cost_usd == pytest.approx(cost(run, TAGGER_PRICES))
    assert f"Tag run #{run.pk} succeeded" in out and "rules said qa, the LLM code" in out


def test_synthesize_run_drafts_candidates_rewrites_and_self_instruct_with_its_cost():
    project, _ = demo_setup(PIPELINE_ONLY)
    run = run_of(project, PipelineStage.SYNTHESIZE, params__llm__model=WRITER_MODEL)
    assert run.status == PipelineStatus.SUCCEEDED and not run.failures
    scripted = Completion.objects.filter(prompt__project=project, model_name__startswith="scripted")
    drafts = scripted.filter(meta__draft=True)
    assert drafts.count() == run.counts["drafts"] > 0
    assert set(drafts.values_list("model_name", flat=True)) == {WRITER_MODEL}
    candidates = scripted.filter(meta__candidate=True)
    assert candidates.count() == run.counts["candidates"] > 0
    assert set(candidates.values_list("model_name", flat=True)) == set(CANDIDATE_MODELS)
    # The first MT-Bench questions had no answer: a draft, then K from the two models.
    for question in Prompt.objects.filter(project=project, source=MT_BENCH.name).order_by("id")[:3]:
        answers = list(question.completions.order_by("id"))
        assert [a.model_name for a in answers] == [WRITER_MODEL, *CANDIDATE_MODELS]
    for prompt in Prompt.objects.filter(project=project, source=DEMO_LOG.name, status="active"):
        assert prompt.completions.count() >= CANDIDATES
    # Plausible, scripted, never the fallback, never the same answer twice on a prompt.
    texts = list(scripted.values_list("prompt_id", "text"))
    assert all(t.endswith(SCRIPTED_NOTE) and FALLBACK_ANSWER not in t for _, t in texts)
    assert len(set(texts)) == len(texts)
    rewrites = Prompt.objects.filter(project=project, meta__rewrite="llm")
    assert rewrites.count() == run.counts["llm_rewrites"] == run.params["limit"]
    origins = set(Prompt.objects.filter(project=project).values_list("content_hash", flat=True))
    assert all(p.meta["origin"] in origins for p in rewrites)
    assert {p.meta["instruction"] for p in rewrites} == {LLM_REWRITE}
    made = Prompt.objects.filter(project=project, source="synthesis:self_instruct")
    by_type = sorted(made.values_list("task_type", flat=True))
    types = ["code", "creative", "math", "qa", "summarization"]
    assert by_type == sorted(types * SELF_INSTRUCT)
    assert run.counts["self_instruct_dropped"] == len(types)  # one near copy per type
    assert run.completion_tokens > 0 and run.cost_usd == pytest.approx(cost(run, WRITER_PRICES))


def test_create_tasks_runs_balance_task_types_and_warn_when_gold_is_short():
    project, out = demo_setup(LATER)
    pairwise = run_of(project, PipelineStage.TASKS, params__kind=TaskKind.PAIRWISE)
    assert pairwise.status == PipelineStatus.SUCCEEDED
    by_type = pairwise.counts["by_task_type"]
    # Most prompts with two answers are HH-RLHF's qa pairs, yet qa gets no more than its turn.
    eligible_qa = Prompt.objects.filter(project=project, source=HH_RLHF.name, task_type="qa")
    assert eligible_qa.count() > 100
    assert len(by_type) >= 5 and by_type["qa"] <= math.ceil(16 / len(by_type))
    assert sum(by_type.values()) == pairwise.counts["tasks"] == 16
    assert {w["code"] for w in pairwise.warnings} == {"too_few_answers", "gold_short"}
    assert pairwise.counts["gold"] < pairwise.counts["gold_wanted"] == 4
    tasks = Task.objects.filter(project=project, kind=TaskKind.PAIRWISE, source__pipeline=True)
    for task in tasks.filter(is_gold=True):
        # Gold from HH-RLHF: the preferred answer is on the side the gold answer names.
        side = {"a": 0, "b": 1}[task.gold_answer["choice"]]
        chosen = task.task_completions.get(position=side).completion
        assert task.prompt.source == HH_RLHF.name and chosen.meta["preferred"] is True
    demonstration = run_of(project, PipelineStage.TASKS, params__kind=TaskKind.DEMONSTRATION)
    assert demonstration.status == PipelineStatus.SUCCEEDED and not demonstration.warnings
    assert demonstration.counts["gold"] == demonstration.counts["gold_wanted"] > 0
    assert {"long_context", "function_calling", "rag"} <= set(demonstration.counts["by_task_type"])
    assert "warning: The gold share asks for 4 gold task(s)" in out


def test_structured_runs_list_what_the_model_got_wrong():
    project, _ = demo_setup(LATER)
    runs = PipelineRun.objects.filter(project=project, stage=PipelineStage.STRUCTURED)
    by_kind = {run.params["kind"]: run for run in runs}
    assert set(by_kind) == {"long_context", "function_calling", "rag"}
    assert all(r.status == PipelineStatus.SUCCEEDED and r.cost_usd > 0 for r in runs)
    assert [f["reason"] for f in by_kind["function_calling"].failures] == [
        "item 2: misses required argument(s) minutes"
    ]
    assert [f["reason"] for f in by_kind["rag"].failures] == [
        "item 2: cites passage(s) d4 that were not given"
    ]
    assert {k: r.counts["prompts"] for k, r in by_kind.items()} == {
        "long_context": 2,
        "function_calling": 4,
        "rag": 2,
    }


def test_each_run_page_shows_what_the_run_did():
    project, _ = demo_setup(LATER)
    client = Client()  # this folder's `client` fixture is the LLM client
    client.login(username="researcher", password="flywheel-demo")

    def page(run):
        response = client.get(reverse("labeling:pipeline_run", args=[run.pk]))
        assert response.status_code == 200
        return response.content.decode()

    log = page(run_of(project, PipelineStage.IMPORT, input_name=DEMO_LOG.name))
    assert "near_duplicate" in log and "credit_card 1" in log and "missing field" in log
    tag = run_of(project, PipelineStage.TAG)
    html = page(tag)
    assert "Explain the difference between a process and a thread." in html
    assert "which is not one of the labels" in html and f"{tag.cost_usd:.6f}" in html
    synth = run_of(project, PipelineStage.SYNTHESIZE, params__llm__model=WRITER_MODEL)
    html = page(synth)
    assert WRITER_MODEL in html and f"{synth.cost_usd:.6f}" in html
    assert "at $3.0 in and $15.0 out per million tokens" in html
    fc = run_of(project, PipelineStage.STRUCTURED, params__kind="function_calling")
    assert "misses required argument(s) minutes" in page(fc)
    pairwise = run_of(project, PipelineStage.TASKS, params__kind=TaskKind.PAIRWISE)
    html = page(pairwise)
    assert "import pairs that mark one, or lower the gold share" in html
    assert "have fewer than the 2 answers a pairwise task needs" in html


def test_a_second_demo_setup_adds_nothing():
    demo_setup(LATER)
    before = [model.objects.count() for model in (Prompt, Completion, PipelineRun, Task)]
    _, out = demo_setup(LATER)
    assert [model.objects.count() for model in (Prompt, Completion, PipelineRun, Task)] == before
    assert "already imported; 0 new prompts" in out
    assert "0 demonstration task(s)" in out


def test_labeler_still_finds_the_structured_tasks_after_the_snapshot_demo_answered_some():
    project, _ = demo_setup(["training", "evaluation"])
    tasks = Task.objects.filter(project=project, source__demo="structured")
    assert sorted(t.prompt.task_type for t in tasks) == ["function_calling", "long_context", "rag"]
    labeler = project.memberships.get(user__username="labeler").user
    for task in tasks:
        assert task.status == "open" and task.submitted_count < task.required_annotations
        assert not task.annotations.filter(annotator=labeler).exists()
