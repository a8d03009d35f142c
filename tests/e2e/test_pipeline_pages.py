"""A researcher uploads a file on the pipeline page, watches the run page update itself until
the worker is done (then polling stops), reads the funnel and the rejected lines, restores a
filtered prompt, and reads a tag run's disagreements. Screenshots at 1280x800 and 390x844."""

from __future__ import annotations

import json

import pytest

from flywheel.testing.openai_server import Reply
from labeling.models import PipelineRun, PipelineStatus, Prompt, PromptStatus
from labeling.services.pipeline import pipeline_run_execute, prompts_tag
from labeling.services.prompts import prompt_bulk_create
from tests.conftest import login

pytestmark = pytest.mark.e2e

ROWS = [
    {"prompt": "Write a Python function that merges two sorted lists into one sorted list."},
    {"prompt": "What causes the seasons on Earth? Please explain it simply."},
    {"prompt": "Email me at jane.doe@example.com with the summary of the meeting notes."},
    {"prompt": "hi"},
    {"prompt": "What causes the seasons on Earth? Please explain it simply!"},
    {"prompt": "buy buy buy buy buy buy buy buy buy buy buy buy buy buy buy buy buy buy"},
]


def shoot(page, screenshot_dir, name):
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_upload_watch_the_run_and_restore(page, screenshot_dir, project, owner, tmp_path, settings):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path / "artifacts"
    upload = tmp_path / "support_prompts.jsonl"
    upload.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "{broken\n")
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/projects/{project.pk}/pipeline/")
    assert "No runs yet" in page.locator("#runs-h + p").inner_text()
    shoot(page, screenshot_dir, "pipeline-empty")

    page.set_input_files("#id_file", str(upload))
    page.check("#id_skip_invalid")
    page.locator("button", has_text="Import").click()
    page.wait_for_url("**/pipeline/runs/*/")
    run = PipelineRun.objects.get()
    assert page.locator("#run-status").inner_text() == "Queued"
    assert page.locator("#run-live[hx-trigger]").count() == 1

    pipeline_run_execute(run=run)  # what the worker does
    page.wait_for_function("document.querySelector('#run-status').textContent === 'Succeeded'")
    assert page.locator("#run-live[hx-trigger]").count() == 0  # polling stopped
    assert "Funnel" in page.locator("#funnel-h").inner_text()
    assert "not valid JSON" in page.locator("#rejects-h + .table-scroll").inner_text()
    shoot(page, screenshot_dir, "pipeline-run")

    page.goto(f"/projects/{project.pk}/pipeline/")
    filtered = Prompt.objects.filter(project=project, status=PromptStatus.FILTERED)
    assert filtered.count() >= 2
    shoot(page, screenshot_dir, "pipeline")
    short = next(p for p in filtered if p.messages[-1]["content"] == "hi")
    page.locator(f"form[action='/prompts/{short.pk}/restore/'] button").click()
    page.wait_for_url(f"**/projects/{project.pk}/pipeline/")
    assert "back among the active prompts" in page.locator(".messages").inner_text()
    short.refresh_from_db()
    assert short.status == PromptStatus.ACTIVE


def test_failed_import_and_tag_disagreements(
    page, screenshot_dir, project, owner, llm_server, tmp_path, settings
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path / "artifacts"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Fine question about tides?"}\nnot json\n{"nope": 1}\n')
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/projects/{project.pk}/pipeline/")
    page.set_input_files("#id_file", str(bad))
    page.locator("button", has_text="Import").click()
    page.wait_for_url("**/pipeline/runs/*/")
    pipeline_run_execute(run=PipelineRun.objects.get())
    page.wait_for_function("document.querySelector('#run-status').textContent === 'Failed'")
    assert "Skip bad rows" in page.locator(".alert").inner_text()
    shoot(page, screenshot_dir, "pipeline-run-failed")

    prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [
                    {"role": "user", "content": "Write a SQL query that counts orders per day."}
                ]
            },
            {"messages": [{"role": "user", "content": "Who painted the Mona Lisa?"}]},
        ],
    )
    llm_server.script(
        Reply(json.dumps({"task_type": "qa"})), Reply(json.dumps({"task_type": "qa"}))
    )
    run = pipeline_run_execute(
        run=prompts_tag(
            project=project, llm_model="scripted", llm_base_url=llm_server.base_url, enqueue=False
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED
    page.goto(f"/pipeline/runs/{run.pk}/")
    assert "SQL query" in page.locator("#dis-h + .table-scroll").inner_text()
    shoot(page, screenshot_dir, "pipeline-tag")
