"""A researcher reads an evaluation run in the browser: progress that updates itself and
stops polling when the run ends, results with intervals and bias warnings, cancel, and the
run list. Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import io
import re

import pytest

from evaluation.demo import SINGLE_MODELS, load_demo
from evaluation.models import EvalRun, RunStatus
from evaluation.services import eval_run_create, eval_run_execute
from tests.conftest import login

pytestmark = pytest.mark.e2e


def shoot(page, screenshot_dir, name):
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_researcher_reads_a_finished_run(page, screenshot_dir, project, owner):
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    run = EvalRun.objects.get(project=project, mode="baseline")
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/evaluation/runs/{run.pk}/")
    assert page.locator("h1").inner_text() == run.name
    assert page.locator("#pairs-table tbody tr").count() == 1
    assert "vicuna-13b-v1.2" in page.locator("#pairs-table").inner_text()
    assert page.locator("#bias-table").is_visible()
    assert page.locator("#category-table tbody tr").count() == 8
    assert page.locator("#run-region[hx-trigger]").count() == 0  # finished: no polling
    shoot(page, screenshot_dir, "eval-run")
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(screenshot_dir / "eval-run-dark-1280.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    single = EvalRun.objects.get(project=project, mode="single")
    page.goto(f"/evaluation/runs/{single.pk}/")
    assert page.locator("#scores-table tbody tr").count() == len(SINGLE_MODELS)
    shoot(page, screenshot_dir, "eval-run-single")

    page.goto(f"/evaluation/projects/{project.pk}/")
    assert page.locator("table.data tbody tr").count() == 2
    shoot(page, screenshot_dir, "eval-runs")


def test_progress_updates_itself_and_polling_stops_when_done(
    page, screenshot_dir, project, owner, llm_server
):
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    done = EvalRun.objects.get(project=project, mode="baseline")
    llm_server.respond_with(lambda request: "Close call. [[A]]")
    from evaluation.services import judge_config_create

    config = judge_config_create(
        project=project, name="e2e judge", base_url=llm_server.base_url, model="e2e-judge"
    )
    run = eval_run_create(
        project=project,
        eval_set=done.eval_set,
        judge_config=config,
        name="live run",
        mode="baseline",
        models=["vicuna-13b-v1.2"],
        baseline="gpt-3.5-turbo",
        start=False,
    )
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/evaluation/runs/{run.pk}/")
    assert page.locator("#run-region[hx-trigger]").count() == 1
    assert "0 / 158 judgments" in page.locator("#run-region").inner_text()
    shoot(page, screenshot_dir, "eval-run-queued")

    # Mid-run, as a worker would leave the row: 60 of 158 recorded in 30 s.
    from datetime import timedelta

    from django.utils import timezone

    EvalRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        calls_done=60,
        calls_made=60,
        started_at=timezone.now() - timedelta(seconds=30),
    )
    page.wait_for_function(
        "document.querySelector('#run-region').innerText.includes('60 / 158')", timeout=10_000
    )
    # 98 left at 2 per second (more seconds pass while the page polls): about 49 s.
    eta = re.search(r"ETA (\d+) s", page.locator("#run-region").inner_text())
    assert eta and 49 <= int(eta.group(1)) <= 75
    shoot(page, screenshot_dir, "eval-run-running")

    eval_run_execute(run_id=run.pk)  # the worker's job, done while the page watches

    page.wait_for_selector("#pairs-table", timeout=10_000)
    assert "158 / 158 judgments" in page.locator("#run-region").inner_text()
    assert page.locator("#run-region[hx-trigger]").count() == 0
    warnings = page.locator("#warnings-title + ul").inner_text()
    assert "first-shown answer won 100%" in warnings


def test_cancel_button_stops_a_queued_run(page, project, owner, eval_set_for_e2e):
    eval_set, config = eval_set_for_e2e
    run = eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=config,
        name="to cancel",
        mode="single",
        models=["gpt-3.5-turbo"],
        start=False,
    )
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/evaluation/runs/{run.pk}/")
    page.get_by_role("button", name="Cancel run").click()
    page.wait_for_selector("text=Resume run")
    assert page.locator("#toasts").inner_text() == "Run cancelled."
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_empty_run_list(page, screenshot_dir, project, owner):
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/evaluation/projects/{project.pk}/")
    assert "No evaluation runs in this project yet." in page.locator(".empty").inner_text()
    shoot(page, screenshot_dir, "eval-runs-empty")


@pytest.fixture
def eval_set_for_e2e(project, owner):
    from evaluation.services import (
        candidates_import,
        eval_set_create,
        eval_set_import_questions,
        judge_config_create,
    )

    eval_set = eval_set_create(project=project, name="two questions")
    eval_set_import_questions(
        eval_set=eval_set,
        lines=['{"question_id": 1, "category": "qa", "turns": ["Hi?"]}'],
    )
    candidates_import(
        eval_set=eval_set,
        lines=['{"question_id": 1, "model": "gpt-3.5-turbo", "turns": ["Hello."]}'],
    )
    config = judge_config_create(
        project=project,
        name="grader",
        base_url="http://127.0.0.1:9/v1",
        model="g",
        family="single",
    )
    return eval_set, config


def test_start_a_run_with_the_form(page, screenshot_dir, project, owner, eval_set_for_e2e):
    eval_set, config = eval_set_for_e2e
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/evaluation/projects/{project.pk}/")
    page.get_by_role("link", name="Start a run").click()
    page.fill("#id_name", "grades from the form")
    page.select_option("#id_eval_set", str(eval_set.pk))
    page.select_option("#id_judge_config", str(config.pk))
    page.select_option("#id_mode", "baseline")
    page.fill("#id_models", "gpt-3.5-turbo")
    page.get_by_role("button", name="Start run").click()
    # A baseline run without a baseline: the service says why, the form keeps the input.
    assert "needs a baseline model" in page.locator("[role=alert]").inner_text()
    assert page.input_value("#id_name") == "grades from the form"
    shoot(page, screenshot_dir, "eval-run-new-error")
    page.select_option("#id_mode", "single")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/evaluation/runs/*/")
    assert page.locator("h1").inner_text() == "grades from the form"
    assert EvalRun.objects.get(name="grades from the form").status == RunStatus.QUEUED
