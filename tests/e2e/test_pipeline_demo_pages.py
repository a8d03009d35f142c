"""A researcher opens the pipeline demo's runs: the scripted model's tag disagreements, the
synthesize run's tokens and cost, the structured runs' failures and the create-tasks warnings."""

import io

import pytest
from django.core.management import call_command

from labeling.models import PipelineRun, PipelineStage, Project
from labeling.pipeline.demo import DEMO_LOG
from tests.conftest import login

pytestmark = pytest.mark.e2e


def shoot(page, screenshot_dir, name, *, phone=False):
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    if phone:
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})


def test_researcher_reads_what_each_demo_run_did(page, screenshot_dir):
    call_command(
        "demo_setup", skip=["labeling.exports", "training", "evaluation"], stdout=io.StringIO()
    )
    project = Project.objects.get(slug="demo")
    runs = PipelineRun.objects.filter(project=project)
    login(page, "researcher", "flywheel-demo")
    page.wait_for_load_state()
    page.goto(f"/projects/{project.pk}/pipeline/")
    shoot(page, screenshot_dir, "pipeline-demo")

    def open_run(run, name, *, phone=False):
        page.goto(f"/pipeline/runs/{run.pk}/")
        assert page.locator("#run-status").inner_text() == "Succeeded"
        shoot(page, screenshot_dir, f"pipeline-demo-{name}", phone=phone)
        return page.locator("#run-live").inner_text()

    text = open_run(runs.get(stage=PipelineStage.IMPORT, input_name=DEMO_LOG.name), "log")
    assert "Too old\n3" in text and "missing field 'user_id'" in text
    text = open_run(runs.get(stage=PipelineStage.TAG), "tag", phone=True)
    assert "Explain the difference between a process and a thread." in text
    assert "'brainstorming', which is not one of the labels" in text
    text = open_run(runs.get(stage=PipelineStage.SYNTHESIZE, params__drafts=True), "synthesize")
    assert "scripted-demo-large" in text and "Tokens in / out" in text
    text = open_run(runs.get(stage=PipelineStage.STRUCTURED, params__kind="rag"), "structured-rag")
    assert "cites passage(s) d4 that were not given" in text
    text = open_run(
        runs.get(stage=PipelineStage.TASKS, params__kind="pairwise"), "tasks", phone=True
    )
    assert "of these prompts carry a gold answer" in text
    assert page.locator("#run-warnings p").count() == 2
