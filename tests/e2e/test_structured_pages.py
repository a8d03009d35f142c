"""Structured prompts in the browser: a labeler works through a long-context, a function-calling
and a RAG task (the demo's) and sees the document, the tools and the passages apart from the
question, with the keyboard; a reviewer sees the expected call and the cited passages; a
researcher gets a clear error for a broken tools JSON on the pipeline page.
Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import io
import json

import pytest

from labeling.models import Annotation, PipelineRun, Prompt, Task
from labeling.pipeline.demo_structured import load_demo as load_structured_demo
from labeling.services import annotation_submit, assignment_claim
from labeling.services.pipeline import pipeline_run_execute
from tests.conftest import login
from tests.e2e.shots import shoot

pytestmark = pytest.mark.e2e


def check_long_context(page):
    panel = page.locator('[data-structure="long_context"]')
    assert "Riverside Library: annual report 2025" in panel.locator("summary").inner_text()
    document = panel.locator("[data-document]")
    assert document.is_visible()
    # The document scrolls in its own panel, by keyboard too.
    assert document.evaluate("el => el.scrollHeight > el.clientHeight")
    document.focus()
    page.keyboard.press("PageDown")
    page.wait_for_function("document.querySelector('[data-document]').scrollTop > 0", timeout=5000)
    question = page.locator(".turn-last")
    assert question.locator(".role").inner_text().lower() == "user · question"
    assert "How many seats were there" in question.inner_text()
    assert "212,400" not in question.inner_text()  # the document is not repeated there
    # The panel folds away (Enter on its summary) and comes back.
    panel.locator("summary").focus()
    page.keyboard.press("Enter")
    assert not document.is_visible()
    page.keyboard.press("Enter")
    assert document.is_visible()


def check_function_calling(page):
    tools = page.locator('[data-structure="function_calling"]')
    booking = tools.locator('[data-tool="book_meeting_room"]')
    rows = booking.locator("table.params tbody tr")
    assert rows.count() == 5
    assert "one of Aurora, Boreal, Cirrus" in rows.nth(0).inner_text()
    assert "required" in rows.nth(0).inner_text() and "optional" in rows.nth(4).inner_text()
    assert "Current weather for a city" in tools.locator('[data-tool="get_weather"]').inner_text()
    schema = booking.locator(".schema pre")
    assert not schema.is_visible()
    booking.locator(".schema summary").focus()
    page.keyboard.press("Enter")
    assert '"additionalProperties": false' in schema.inner_text()
    assert page.locator("[data-expected-call]").count() == 0  # a demonstration asks for it
    assert "45-minute slot in Boreal" in page.locator(".turn-last").inner_text()


def check_rag(page):
    passages = page.locator('[data-structure="rag"] [data-passage]')
    assert [passages.nth(i).get_attribute("data-passage") for i in range(3)] == [
        "d1",
        "d2",
        "d3",
    ]
    assert passages.nth(2).locator(".passage-id").inner_text() == "[d3]"
    assert "Bicycles" in passages.nth(2).inner_text()
    assert "I commute by bike" in page.locator(".turn-last").inner_text()


CHECKS = {
    "long_context": check_long_context,
    "function_calling": check_function_calling,
    "rag": check_rag,
}


def test_labeler_sees_document_tools_and_passages_apart_from_the_question(
    page, screenshot_dir, project, labeler
):
    load_structured_demo(project=project, users={}, stdout=io.StringIO())
    login(page, "labeler")
    page.wait_for_load_state()
    page.goto("/queue/")
    page.get_by_role("button", name="Start labeling").click()
    seen = []
    for _ in range(3):
        page.wait_for_selector("#work[data-ready] [data-structure]")
        kind = page.locator("[data-structure]").get_attribute("data-structure")
        task = int(page.locator("#work").get_attribute("data-task"))
        CHECKS[kind](page)
        shoot(page, screenshot_dir, f"structured-{kind}")
        page.fill("#answer-text", f"An answer to the {kind} task.")
        page.locator("#answer-text").focus()
        page.keyboard.press("Control+Enter")
        page.wait_for_function(
            f"!document.querySelector('#work[data-task=\"{task}\"]')", timeout=10000
        )
        seen.append(kind)
    assert sorted(seen) == sorted(CHECKS)
    assert Annotation.objects.count() == 3


def test_reviewer_sees_the_expected_call_and_the_cited_passages(
    page, screenshot_dir, project, labeler, reviewer
):
    load_structured_demo(project=project, users={}, stdout=io.StringIO())
    for _ in range(3):
        task = assignment_claim(project=project, user=labeler).task
        annotation_submit(task=task, user=labeler, data={"text": "My answer."})
    login(page, "reviewer")
    page.wait_for_load_state()
    for kind in ("function_calling", "rag"):
        task = Task.objects.get(prompt__task_type=kind)
        page.goto(f"/review/tasks/{task.pk}/")
        if kind == "function_calling":
            call = page.locator("[data-expected-call] pre").inner_text()
            assert '"name": "book_meeting_room"' in call and '"minutes": 45' in call
        else:
            cited = page.locator('[data-passage]:has(.badge:text("cited by the reference"))')
            assert [cited.nth(i).get_attribute("data-passage") for i in range(2)] == ["d1", "d3"]
            assert cited.count() == 2
        shoot(page, screenshot_dir, f"structured-review-{kind}")


def test_pipeline_form_says_what_is_wrong_with_the_tools_json(page, screenshot_dir, project, owner):
    project.task_types = [*project.task_types, "function_calling"]
    project.save(update_fields=["task_types"])
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/projects/{project.pk}/pipeline/")
    form = page.locator("#structured")
    form.locator("#id_kind").select_option("function_calling")
    form.locator("#id_llm_model").fill("gpt-4o-mini")
    form.locator("#id_text").fill('[{"type": "function", "function": {"name": "book_room"}')
    form.get_by_role("button", name="Synthesize structured prompts").click()
    page.wait_for_load_state()
    form = page.locator("#structured")
    error = form.locator(".field-error")
    assert "The tools are not valid JSON" in error.inner_text()
    assert "(line 1, column" in error.inner_text()
    assert form.locator("#id_text").input_value().startswith('[{"type": "function"')
    shoot(page, screenshot_dir, "structured-form-error")
    # The page is long at phone width; the form itself, where the error is.
    page.set_viewport_size({"width": 390, "height": 844})
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        form.screenshot(path=str(screenshot_dir / f"structured-form-error-card-{scheme}-390.png"))


def test_pipeline_form_starts_a_rag_run_and_the_run_page_lists_what_failed(
    page, screenshot_dir, project, owner, llm_server, settings, tmp_path
):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path
    settings.FLYWHEEL_LLM_BASE_URL = llm_server.base_url
    project.task_types = [*project.task_types, "rag"]
    project.save(update_fields=["task_types"])

    def model(request):
        text = request["messages"][-1]["content"]
        if "[p3]" in text:
            item = {"question": "What is in Lyon?", "answer": "?", "cited": ["p9"]}
        else:
            item = {
                "question": "Which city is the capital?",
                "answer": "Oslo [p1]",
                "cited": ["p1"],
            }
        return json.dumps({"items": [item]})

    llm_server.respond_with(model)
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/projects/{project.pk}/pipeline/")
    form = page.locator("#structured")
    form.locator("#id_kind").select_option("rag")
    form.locator("#id_llm_model").fill("scripted")
    form.locator("#id_price_prompt_per_mtok").fill("3")
    form.locator("#id_price_completion_per_mtok").fill("15")
    form.locator("#id_text").fill(
        "Oslo is the capital of Norway.\n\nBergen is on the west coast.\n\nLyon is in France."
    )
    form.locator("#id_count").fill("2")
    form.locator("#id_passages_per_item").fill("2")
    form.get_by_role("button", name="Synthesize structured prompts").click()
    page.wait_for_url("**/pipeline/runs/*/")
    run = PipelineRun.objects.get()
    assert page.locator("#run-status").inner_text() == "Queued"

    pipeline_run_execute(run=run)  # what the worker does
    page.wait_for_function("document.querySelector('#run-status').textContent === 'Succeeded'")
    assert "2 of 2 LLM calls" in page.locator("#run-live").inner_text()
    failed = page.locator("#fail-h + .table-scroll").inner_text()
    assert "passages p3" in failed and "cites passage(s) p9 that were not given" in failed
    assert Prompt.objects.get().meta["structure"]["cited"] == ["p1"]
    shoot(page, screenshot_dir, "structured-run")
