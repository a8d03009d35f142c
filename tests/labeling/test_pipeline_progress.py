"""The tag, synthesize and tasks stages report progress while they work (throttled), the run's
LLM prices make its cost, and the tasks stage says what it could not do as asked: prompts with
fewer answers than K, and a gold share the data cannot meet."""

import json

import pytest

from flywheel.testing.openai_server import Reply
from labeling.models import PipelineRun, PipelineStatus, Task
from labeling.pipeline.progress import ProgressMeter
from labeling.services.pipeline import (
    ERROR_GOLD_SHARE,
    ERROR_PRICE,
    PipelineRunError,
    import_run_start,
    pipeline_run_execute,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.pipeline import runs as pipeline_runs
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


def seed(project, texts, **extra):
    return prompt_bulk_create(
        project=project,
        prompts=[{"messages": [{"role": "user", "content": t}], **extra} for t in texts],
    )


def with_answers(project, text, n, **extra):
    answers = [{"text": f"Answer {i} to {text}", "model_name": "m"} for i in range(n)]
    (prompt,) = seed(project, [text], completions=answers, **extra)
    return prompt


class Seen:
    """An on_progress callback that also reads the run row as each report comes."""

    def __init__(self):
        self.reports = []
        self.stored = []

    def __call__(self, done, total):
        self.reports.append((done, total))
        self.stored.append(PipelineRun.objects.values_list("done", flat=True).get())


@pytest.fixture
def every(monkeypatch):
    """Report every `n` items, never by time (so that the test sees exact values)."""

    def set_every(n):
        monkeypatch.setattr(pipeline_runs, "PROGRESS_EVERY", n)
        monkeypatch.setattr(pipeline_runs, "PROGRESS_SECONDS", 3600.0)

    return set_every


# -- the meter --------------------------------------------------------------------------------


def test_meter_reports_every_n_items_or_after_the_interval_and_once_at_flush():
    now = [0.0]
    reports = []
    meter = ProgressMeter(reports.append, every=3, seconds=2.0, clock=lambda: now[0])
    for _ in range(7):
        meter.advance()
    assert reports == [3, 6]
    now[0] = 2.5  # a slow item: the interval has gone by
    meter.advance()
    assert reports == [3, 6, 8]
    meter.flush()
    meter.flush()
    assert reports == [3, 6, 8]  # nothing new to say
    meter.advance(2)
    meter.flush()
    assert reports == [3, 6, 8, 10]


# -- progress while the stages work -----------------------------------------------------------


def test_tag_with_llm_writes_progress_as_replies_come_back(project, llm_server, every):
    every(2)
    seed(project, [f"Question number {i} about the history of Peru?" for i in range(5)])
    llm_server.respond_with(lambda request: Reply(json.dumps({"task_type": "qa"})))
    seen = Seen()
    run = prompts_tag(
        project=project, llm_model="scripted", llm_base_url=llm_server.base_url, enqueue=False
    )
    run = pipeline_run_execute(run=run, on_progress=seen)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert seen.reports == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert seen.stored == [0, 2, 4, 5]  # the row the pages poll had each value
    assert run.done == run.total == 5


def test_rules_only_tagging_is_throttled_to_one_write_per_batch(project, every):
    every(200)
    seed(project, [f"Write a Python function number {i} that sorts a list." for i in range(450)])
    seen = Seen()
    run = pipeline_run_execute(run=prompts_tag(project=project, enqueue=False), on_progress=seen)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert seen.reports == [(0, 450), (200, 450), (400, 450), (450, 450)]


def test_synthesize_counts_steps_of_drafts_and_candidates_as_they_arrive(
    project, llm_server, every
):
    every(1)
    seed(project, ["Name a river in Spain.", "Name a mountain in Chile.", "Name a lake in Peru."])
    llm_server.respond_with(lambda request: "The Ebro, the Andes, Titicaca.")
    seen = Seen()
    run = prompts_synthesize(
        project=project,
        drafts=True,
        candidates=2,
        llm_model="scripted",
        llm_base_url=llm_server.base_url,
        enqueue=False,
    )
    run = pipeline_run_execute(run=run, on_progress=seen)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    # 3 drafts, then 3 prompts x 2 candidates (each prompt has its draft: one more is asked).
    assert seen.reports[0] == (0, 9)
    assert [done for done, _ in seen.reports] == list(range(10))
    assert run.done == run.total == 9
    assert run.counts["drafts"] == 3 and run.counts["candidates"] == 3


def test_tasks_stage_writes_progress_per_prompt(project, every):
    every(2)
    seed(project, [f"Explain idea number {i} in two lines." for i in range(5)], task_type="qa")
    seen = Seen()
    run = tasks_create_from_prompts(project=project, kind="demonstration", enqueue=False)
    run = pipeline_run_execute(run=run, on_progress=seen)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert seen.reports == [(0, 5), (2, 5), (4, 5), (5, 5)]


# -- cost -------------------------------------------------------------------------------------


def words(text):
    return len(str(text).split())


def test_synthesis_cost_is_the_servers_tokens_times_the_prices(project, llm_server):
    seed(project, ["Explain how tides work.", "Why do leaves change colour in autumn?"])
    reply = "Because the moon pulls on the oceans and the earth turns beneath them."
    llm_server.respond_with(lambda request: reply)
    run = prompts_synthesize(
        project=project,
        drafts=True,
        llm_model="scripted",
        llm_base_url=llm_server.base_url,
        price_prompt_per_mtok=2.5,
        price_completion_per_mtok=10.0,
        enqueue=False,
    )
    run = pipeline_run_execute(run=run)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    # The test server reports words as tokens: the prompt's words in, the reply's words out.
    sent = sum(words(m["content"]) for r in llm_server.requests for m in r["messages"])
    assert len(llm_server.requests) == 2
    assert run.prompt_tokens == sent
    assert run.completion_tokens == 2 * words(reply)
    expected = (run.prompt_tokens * 2.5 + run.completion_tokens * 10.0) / 1_000_000
    assert run.cost_usd == pytest.approx(expected) and run.cost_usd > 0
    assert run.params["llm"]["price_prompt_per_mtok"] == 2.5


def test_tag_cost_uses_the_runs_prices_and_is_zero_without_them(project, llm_server):
    seed(project, ["Who wrote the novel Don Quixote?"])
    llm_server.respond_with(lambda request: Reply(json.dumps({"task_type": "qa"})))
    options = {"llm_model": "scripted", "llm_base_url": llm_server.base_url, "retag": True}
    free = pipeline_run_execute(run=prompts_tag(project=project, enqueue=False, **options))
    assert free.prompt_tokens > 0 and free.cost_usd == 0
    priced = pipeline_run_execute(
        run=prompts_tag(
            project=project,
            enqueue=False,
            price_prompt_per_mtok=1.0,
            price_completion_per_mtok=4.0,
            **options,
        )
    )
    expected = (priced.prompt_tokens * 1.0 + priced.completion_tokens * 4.0) / 1_000_000
    assert priced.cost_usd == pytest.approx(expected) and priced.cost_usd > 0


@pytest.mark.parametrize("price", [-1, "cheap", float("nan")])
def test_a_bad_price_is_refused(project, price):
    with pytest.raises(PipelineRunError) as error:
        prompts_tag(project=project, llm_model="m", price_prompt_per_mtok=price, enqueue=False)
    assert str(error.value) == ERROR_PRICE
    assert not PipelineRun.objects.exists()


# -- what the tasks stage could not do --------------------------------------------------------


def test_ranking_leaves_out_prompts_with_fewer_than_k_answers_and_says_so(project):
    project.k_outputs = 3
    project.save()
    full = with_answers(project, "Suggest a name for a bakery.", 3)
    with_answers(project, "Suggest a name for a cafe.", 2)
    seed(project, ["Suggest a name for a bookshop."])
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(project=project, kind="ranking", gold_share=0, enqueue=False)
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    (task,) = Task.objects.filter(project=project)
    assert task.prompt == full and task.task_completions.count() == 3
    assert run.counts["tasks"] == 1 and run.counts["skipped_too_few_answers"] == 2
    (warning,) = run.warnings
    assert warning["code"] == "too_few_answers"
    assert warning["message"] == pipeline_runs.WARNING_TOO_FEW_ANSWERS.format(
        count=2, need=3, kind="ranking"
    )


def test_ranking_with_k_answers_everywhere_has_no_warning(project):
    project.k_outputs = 2
    project.save()
    with_answers(project, "Suggest a name for a bakery.", 2)
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(project=project, kind="ranking", gold_share=0, enqueue=False)
    )
    assert run.counts["tasks"] == 1 and run.counts["skipped_too_few_answers"] == 0
    assert run.warnings == []


def test_a_gold_share_the_data_cannot_meet_is_reported(project):
    references = {"meta": {"reference": "Lima."}}
    seed(project, ["What is the capital of Peru?"], **references)
    seed(project, [f"Describe city number {i} in a line." for i in range(3)])
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(
            project=project, kind="demonstration", gold_share=0.5, enqueue=False
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["tasks"] == 4
    assert (run.counts["gold_wanted"], run.counts["gold"]) == (2, 1)
    assert Task.objects.filter(is_gold=True).count() == 1
    (warning,) = run.warnings
    assert warning["code"] == "gold_short"
    assert "asks for 2 gold task(s) (50% of 4)" in warning["message"]
    assert "only 1 of these prompts carry a gold answer, so 1 are gold" in warning["message"]
    assert "Gold comes from a reference answer" in warning["message"]


def test_gold_share_for_ranking_says_ranking_takes_no_gold(project):
    with_answers(project, "Suggest a name for a bakery.", 2)
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(project=project, kind="ranking", gold_share=1, enqueue=False)
    )
    assert run.counts["gold"] == 0
    assert "Ranking tasks take no gold from the data" in run.warnings[0]["message"]


def test_a_gold_share_that_is_met_has_no_warning(project):
    seed(project, ["What is the capital of Peru?"], meta={"reference": "Lima."})
    seed(project, ["What is the capital of Chile?"], meta={"reference": "Santiago."})
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(
            project=project, kind="demonstration", gold_share=0.5, enqueue=False
        )
    )
    assert run.counts["gold"] == 1 and run.warnings == []


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_gold_share_outside_0_to_1_is_refused(project, share):
    with pytest.raises(PipelineRunError) as error:
        tasks_create_from_prompts(project=project, kind="ranking", gold_share=share, enqueue=False)
    assert str(error.value) == ERROR_GOLD_SHARE


def test_an_import_shows_the_rows_read_while_it_checks_the_file(project, monkeypatch, tmp_path):
    """The first pass (validation) used to write nothing, so a large file sat at 0 of ? rows."""
    from labeling.services.pipeline import stage_import

    monkeypatch.setattr(stage_import, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(stage_import, "PROGRESS_SECONDS", 3600.0)
    path = tmp_path / "prompts.txt"
    path.write_text("".join(f"Question number {i}: what is {i} plus {i}?\n" for i in range(5)))
    seen = Seen()
    run = pipeline_run_execute(
        run=import_run_start(project=project, path=path, enqueue=False), on_progress=seen
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    checking = [report for report in seen.reports if report[1] == 0]
    assert checking[:2] == [(2, 0), (4, 0)]  # rows read, total not known yet
    assert (0, 5) in seen.reports and seen.reports[-1] == (5, 5)
