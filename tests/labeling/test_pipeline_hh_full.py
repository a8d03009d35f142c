"""The whole real HH-RLHF harmless-base test file (2,312 preference pairs, a copy of
shared/benchdata, see tests/data/pipeline/README.md) through the import command and the tasks
stage: the five malformed rows of the real file are named by line, all or nothing by default,
and with --skip-invalid the rest becomes pairwise tasks with gold."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from labeling.models import PipelineRun, PipelineStatus, Prompt, PromptStatus, Task, TaskKind
from labeling.services.pipeline import pipeline_run_execute, tasks_create_from_prompts

pytestmark = pytest.mark.django_db

HH_FULL = Path(__file__).resolve().parent.parent / "data" / "pipeline"
HH_FULL = HH_FULL / "hh_rlhf_harmless_base_test.jsonl.gz"
ROWS = 2312
BAD_LINES = [1255, 1689, 1951, 1953, 2037]  # 'chosen' and 'rejected' differ before the end


def import_prompts(*args):
    out = StringIO()
    call_command("import_prompts", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_real_file_is_refused_whole_naming_its_five_bad_rows(project):
    with pytest.raises(CommandError) as exc:
        import_prompts(HH_FULL, "--project", project.slug)
    assert str(exc.value).startswith("5 bad row(s); nothing was imported. First: line 1255:")
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.FAILED
    assert [r["line"] for r in run.rejects] == BAD_LINES
    assert not Prompt.objects.exists()


def test_skip_invalid_imports_the_rest_and_the_tasks_stage_makes_pairwise_tasks(project):
    import_prompts(HH_FULL, "--project", project.slug, "--skip-invalid")
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["rejected"] == len(BAD_LINES)
    prompts = Prompt.objects.filter(project=project)
    # Every good row is a prompt, or an exact duplicate of one (counted, not lost).
    assert prompts.count() == run.counts["prompts"]
    assert run.counts["prompts"] + run.counts.get("duplicates", 0) == ROWS - len(BAD_LINES)
    # Two answers a pair, but a handful of the real pairs have the same text on both sides.
    one_answer = prompts.annotate(n=Count("completions")).filter(n=1)
    assert 0 < one_answer.count() < 10
    # The file asks two prompts twice, paired with other answers: those are added to the prompt.
    assert run.counts["duplicates"] == run.counts["duplicates_in_file"] == 2
    twice = prompts.annotate(n=Count("completions")).filter(n=4)
    assert twice.count() == 2 and run.counts["completions_on_duplicates"] == 4
    assert run.counts["completions"] == 2 * run.counts["prompts"] - one_answer.count() + 4
    active = prompts.filter(status=PromptStatus.ACTIVE)
    assert active.count() == run.counts["kept"] and run.counts["filtered"] > 0

    start = tasks_create_from_prompts(
        project=project, kind=TaskKind.PAIRWISE, limit=100_000, gold_share=0.1, enqueue=False
    )
    tasks_run = pipeline_run_execute(run=start)
    assert tasks_run.status == PipelineStatus.SUCCEEDED, tasks_run.error
    tasks = Task.objects.filter(project=project, kind=TaskKind.PAIRWISE)
    pairs = active.count() - one_answer.filter(status=PromptStatus.ACTIVE).count()
    assert tasks.count() == tasks_run.counts["tasks"] == pairs
    assert tasks_run.counts["skipped_too_few_answers"] == active.count() - pairs
    gold = tasks.filter(is_gold=True).count()
    assert gold == tasks_run.counts["gold"] == round(0.1 * tasks.count())
