"""End to end with the real files in tests/data/pipeline: `manage.py import_prompts`, then
tasks made by the background task in a real `db_worker`."""

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult

from labeling.models import (
    Completion,
    PipelineRun,
    PipelineStatus,
    Prompt,
    PromptStatus,
    Task,
    TaskKind,
)
from labeling.services.pipeline import tasks_create_from_prompts

DATA = Path(__file__).resolve().parent.parent / "data" / "pipeline"
HH = DATA / "hh_rlhf_harmless_base_test_200.jsonl"
MT_BENCH = DATA / "mt_bench_question.jsonl"


def import_prompts(*args):
    out, err = StringIO(), StringIO()
    call_command("import_prompts", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_worker():
    call_command(
        "db_worker", "--queue-name", "default", "--max-tasks", "1", "--batch", "--no-startup-delay"
    )


@pytest.mark.django_db(transaction=True)
def test_hh_rlhf_becomes_prompts_with_two_answers_then_pairwise_tasks_in_the_worker(project):
    project.gold_rate = 0.1
    project.save()
    out, _ = import_prompts(HH, "--project", project.slug)
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED
    assert run.total == 200 and run.done == 200
    assert "200/200 rows" in out and f"run {run.pk}:" in out
    prompts = Prompt.objects.filter(project=project)
    # Every row is stored (duplicates within the file collapse into one prompt).
    assert prompts.count() == run.counts["prompts"] == 200 - run.counts.get("duplicates", 0)
    assert run.counts["kept"] + run.counts["filtered"] == prompts.count()
    assert prompts.filter(status=PromptStatus.FILTERED).count() == run.counts["filtered"]
    sample = prompts.filter(status=PromptStatus.ACTIVE).first()
    answers = list(sample.completions.order_by("id"))
    assert [a.meta["preferred"] for a in answers] == [True, False]
    assert sample.messages[-1]["role"] == "user"

    start = tasks_create_from_prompts(project=project, kind="pairwise", limit=50)
    assert DBTaskResult.objects.count() == 1
    run_worker()
    start.refresh_from_db()
    assert start.status == PipelineStatus.SUCCEEDED, start.error
    tasks = Task.objects.filter(project=project, kind=TaskKind.PAIRWISE)
    assert tasks.count() == 50 == start.counts["tasks"]
    gold = tasks.filter(is_gold=True)
    assert gold.count() == start.counts["gold"] == 5
    for task in gold:
        a, b = task.task_completions.order_by("position")
        winner = a if task.gold_answer["choice"] == "a" else b
        assert winner.completion.meta["preferred"] is True
    assert not tasks.filter(prompt__status=PromptStatus.FILTERED).exists()


@pytest.mark.django_db
def test_mt_bench_questions_keep_follow_up_turns_and_references(project):
    project.task_types = []  # any label the tagger knows
    project.gold_rate = 1.0
    project.save()
    import_prompts(MT_BENCH, "--project", project.slug, "--format", "mt_bench")
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert Prompt.objects.count() == 80
    first = Prompt.objects.get(meta__question_id=81)
    assert first.messages == [
        {
            "role": "user",
            "content": "Compose an engaging travel blog post about a recent trip to Hawaii, "
            "highlighting cultural experiences and must-see attractions.",
        }
    ]
    assert first.meta["followup_turns"] == [
        "Rewrite your previous response. Start every sentence with the letter A."
    ]
    with_reference = Prompt.objects.filter(meta__has_key="reference").count()
    assert with_reference > 0
    created = tasks_create_from_prompts(
        project=project, kind="demonstration", limit=200, enqueue=False
    )
    from labeling.services.pipeline import pipeline_run_execute

    created = pipeline_run_execute(run=created)
    active = Prompt.objects.filter(status=PromptStatus.ACTIVE).count()
    assert created.counts["tasks"] == active
    assert created.counts["gold"] == Task.objects.filter(is_gold=True).count() > 0
    task = Task.objects.get(prompt=first)
    assert task.meta["followup_turns"] == first.meta["followup_turns"]
    # Balanced: every task type MT-Bench's categories map to got tasks.
    assert len(created.counts["by_task_type"]) >= 4


@pytest.mark.django_db
def test_bad_rows_fail_the_whole_import_unless_skipped(project, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"prompt": "Summarize the causes of the French revolution."}\n{"broken": \n'
        '{"prompt": "Give me three names for a bakery."}\n'
    )
    with pytest.raises(CommandError, match="1 bad row"):
        import_prompts(path, "--project", project.slug)
    assert not Prompt.objects.exists()
    out, err = import_prompts(path, "--project", project.slug, "--skip-invalid")
    assert "line 2:" in err
    assert Prompt.objects.count() == 2
    out, _ = import_prompts(path, "--project", project.slug, "--skip-invalid")
    assert "prompts 0, completions 0, duplicates 2" in out
    assert "duplicates in file 0, duplicates in project 2" in out
    assert "exact_duplicate: removed 2 (already_in_project 2)" in out
    assert Prompt.objects.count() == 2


@pytest.mark.django_db
def test_import_takes_the_filter_options_and_prints_the_funnel(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        '{"prompt": "Tell me about the zorblax protocol in detail."}\n'
        '{"prompt": "What is the speed of light in a vacuum?"}\n'
        '{"prompt": "Explain photosynthesis to a ten year old in a few sentences."}\n'
        '{"prompt": "What is the speed of light in a vacuum?"}\n'
    )
    out, _ = import_prompts(
        path, "--project", project.slug, "--blocklist", "zorblax", "--max-chars", "50",
        "--near-dup-threshold", "0.9", "--languages", "en",
    )  # fmt: skip
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.params["filters"] == {
        "max_chars": 50,
        "blocklist": ["zorblax"],
        "languages": ["en"],
        "near_dup_threshold": 0.9,
    }
    kept = Prompt.objects.filter(status=PromptStatus.ACTIVE)
    assert [p.messages[-1]["content"] for p in kept] == ["What is the speed of light in a vacuum?"]
    assert "funnel: 4 checked, 1 kept" in out
    assert "length: removed 1 (too_long 1)" in out
    assert "blocklist: removed 1 (blocked_term 1)" in out
    assert "exact_duplicate: removed 1 (repeated_in_file 1)" in out
    assert "duplicates in file 1, duplicates in project 0" in out


@pytest.mark.django_db
def test_import_refuses_bad_filter_options_with_the_services_message(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "What is the speed of light in a vacuum?"}\n')
    with pytest.raises(CommandError, match="minimum length in characters is above the maximum"):
        import_prompts(path, "--project", project.slug, "--min-chars", "90", "--max-chars", "10")
    assert not PipelineRun.objects.exists() and not Prompt.objects.exists()


@pytest.mark.django_db
def test_since_keeps_a_window_of_logs(project, tmp_path):
    path = tmp_path / "logs.jsonl"
    path.write_text(
        '{"timestamp": "2026-11-01T09:00:00Z", "user_id": "u1", "prompt": "Old question here?"}\n'
        '{"timestamp": "2026-11-20T09:00:00Z", "user_id": "u2", "prompt": "New question here?"}\n'
    )
    import_prompts(path, "--project", project.slug, "--since", "2026-11-14")
    (prompt,) = Prompt.objects.all()
    assert prompt.messages[-1]["content"] == "New question here?"
    assert prompt.collected_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert PipelineRun.objects.get().counts["too_old"] == 1


@pytest.mark.django_db
def test_unknown_project_and_bad_since_are_refused(project):
    with pytest.raises(CommandError, match="No project"):
        import_prompts(HH, "--project", "nope")
    with pytest.raises(CommandError, match="--since"):
        import_prompts(HH, "--project", project.slug, "--since", "yesterday")
    assert not Completion.objects.exists()
