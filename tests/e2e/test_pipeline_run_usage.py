"""A researcher synthesizes drafts with a priced model and watches the run page count the
drafts as they arrive, then reads the run's tokens and cost; then creates ranking tasks with a
gold share and reads why some prompts were left out and why fewer tasks are gold.
Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from flywheel.testing.openai_server import Reply
from labeling.models import PipelineRun, PipelineStatus
from labeling.services.pipeline import pipeline_run_execute
from labeling.services.pipeline import runs as pipeline_runs
from labeling.services.prompts import prompt_bulk_create
from tests.conftest import login
from tests.e2e.shots import shoot

pytestmark = pytest.mark.e2e

QUESTIONS = [
    "Explain how a refrigerator keeps food cold.",
    "Why does bread go stale faster in the fridge?",
    "How do noise-cancelling headphones work?",
    "What makes a rainbow appear after rain?",
    "Why do cats purr, as far as we know?",
    "How does a bicycle stay upright when moving?",
]
ANSWER = "It moves heat out of the box: a refrigerant evaporates inside and condenses outside."


def execute_in_background(run):
    """What the worker does, on its own thread, while the page polls."""

    def work():
        try:
            pipeline_run_execute(run=run)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_progress_cost_and_task_warnings_on_the_run_page(
    page, screenshot_dir, project, owner, llm_server, settings, monkeypatch
):
    settings.FLYWHEEL_LLM_BASE_URL = llm_server.base_url
    settings.FLYWHEEL_LLM_MAX_CONCURRENCY = 1  # one draft at a time, so progress is visible
    monkeypatch.setattr(pipeline_runs, "PROGRESS_EVERY", 1)
    llm_server.respond_with(lambda request: Reply(ANSWER, delay=0.7))
    project.k_outputs = 2
    project.save()
    prompt_bulk_create(
        project=project,
        prompts=[
            {"messages": [{"role": "user", "content": q}], "task_type": "qa"} for q in QUESTIONS
        ],
    )

    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/projects/{project.pk}/pipeline/")
    form = page.locator("form", has=page.locator("h2", has_text="Synthesize"))
    assert form.locator("label[for=id_price_prompt_per_mtok]").is_visible()
    form.locator("input[name=llm_model]").fill("big-model")
    form.locator("input[name=price_prompt_per_mtok]").fill("2.5")
    form.locator("input[name=price_completion_per_mtok]").fill("10")
    form.locator("input[name=drafts]").check()
    shoot(page, screenshot_dir, "pipeline-priced-forms")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/pipeline/runs/*/")
    run = PipelineRun.objects.get()
    assert run.params["llm"]["price_completion_per_mtok"] == 10.0

    worker = execute_in_background(run)
    # The page shows drafts counted while the run is still going.
    page.wait_for_function(
        "() => { const d = +document.querySelector('#run-done').textContent;"
        " const status = document.querySelector('#run-status').textContent;"
        " return d > 0 && d < 6 && status === 'Running'; }",
        timeout=15_000,
    )
    assert "of 6 steps" in page.locator("#status-h + .progress + p").inner_text()
    shoot(page, screenshot_dir, "pipeline-run-progress")
    worker.join(timeout=30)
    page.wait_for_function("document.querySelector('#run-status').textContent === 'Succeeded'")
    run.refresh_from_db()
    assert run.counts["drafts"] == 6
    expected = (run.prompt_tokens * 2.5 + run.completion_tokens * 10) / 1_000_000
    assert run.cost_usd == pytest.approx(expected) and run.cost_usd > 0
    assert page.locator("#run-cost").inner_text() == f"{run.cost_usd:.6f}"
    assert "at $2.5 in and $10.0 out per million tokens" in page.locator("#run-prices").inner_text()
    shoot(page, screenshot_dir, "pipeline-run-cost")

    # Every prompt has one answer (its draft); ranking needs K = 2, which two others have.
    prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": f"Name a good first {thing}."}],
                "task_type": "qa",
                "completions": [{"text": f"A {thing}, {n}.", "model_name": "m"} for n in (1, 2)],
            }
            for thing in ("bicycle", "houseplant")
        ],
    )
    page.goto(f"/projects/{project.pk}/pipeline/")
    form = page.locator("form", has=page.locator("h2", has_text="Create tasks"))
    form.locator("select[name=kind]").select_option("ranking")
    form.locator("input[name=gold_share]").fill("0.5")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/pipeline/runs/*/")
    tasks = PipelineRun.objects.get(stage="tasks")
    tasks = pipeline_run_execute(run=tasks)
    assert tasks.status == PipelineStatus.SUCCEEDED
    page.wait_for_function("document.querySelector('#run-status').textContent === 'Succeeded'")
    warnings = page.locator("#run-warnings").inner_text()
    assert "6 prompt(s) have fewer than the 2 answers a ranking task needs" in warnings
    assert "Ranking tasks take no gold from the data: set the gold share to 0" in warnings
    assert (tasks.counts["tasks"], tasks.counts["gold"]) == (2, 0)
    shoot(page, screenshot_dir, "pipeline-run-warnings")
