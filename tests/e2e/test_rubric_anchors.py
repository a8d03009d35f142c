"""The rubric page, keyboard first: number keys score the focused criterion, the written anchor
of the focused or picked point shows under it; and human raters of a judge run score, in the
browser, by the judge's own criteria, scale and anchors with the gold reference in view.
Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from evaluation.judging.builtin import MULTIDIM_DIMENSIONS
from evaluation.models import Judgment
from evaluation.services import (
    candidates_import,
    eval_run_execute,
    eval_set_create,
    eval_set_import_questions,
    judge_config_create,
)
from evaluation.services.human import human_judgments_collect, human_tasks_create
from labeling.models import Annotation
from labeling.services.rubric import project_rubric_set
from tests.e2e.test_label_pages import make_task, shoot, start, wait_for
from tests.evaluation.conftest import QUESTIONS, answers
from tests.evaluation.test_runner import make_run

pytestmark = pytest.mark.e2e

CRITERIA = [
    {"name": "helpfulness", "description": "Answers what was asked."},
    {"name": "honesty", "anchors": {"1": "states falsehoods as facts"}},
    {"name": "tone"},
]
ANCHORS = {"1": "ignores the question", "3": "partly answers", "5": "fully answers, no errors"}


def anchor_of(page, row: int):
    return page.locator("[data-rubric-row] [data-anchor-line]").nth(row)


def test_number_keys_score_the_focused_criterion_and_its_anchor_shows(
    page, screenshot_dir, project, labeler
):
    project_rubric_set(
        project=project, criteria=CRITERIA, anchors=ANCHORS, scale_min=1, scale_max=5,
        instructions="Read the **whole** answer first, then score each criterion on its own.",
    )  # fmt: skip
    task = make_task(project, "rubric", ["Use `sorted(xs)`; it returns a new list."])
    start(page)
    page.wait_for_selector("#work[data-ready]")
    # The rubric's instructions, then the shared anchors as a legend above the grid.
    assert "score each criterion on its own" in page.locator(".rubric-instructions").inner_text()
    assert page.locator(".anchor-legend dd").all_inner_texts() == list(ANCHORS.values())
    expect(anchor_of(page, 0)).to_have_text("")

    # Focus the answer and press 4: the first criterion without a score takes it.
    page.locator(".answer-card").focus()
    page.keyboard.press("4")
    assert page.locator('input[data-criterion="helpfulness"][value="4"]').is_checked()
    expect(anchor_of(page, 0)).to_have_text("4(no anchor written for this point)")
    # Tab goes to the next criterion; its own anchor for 1 wins over the shared one.
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    assert page.locator('input[data-criterion="honesty"][value="1"]').is_checked()
    expect(anchor_of(page, 1)).to_have_text("1states falsehoods as facts")
    # Arrows move along the row and the line follows the focused point.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.locator('input[data-criterion="honesty"][value="3"]').is_checked()
    expect(anchor_of(page, 1)).to_have_text("3partly answers")
    page.keyboard.press("Tab")
    page.keyboard.press("5")
    expect(anchor_of(page, 2)).to_have_text("5fully answers, no errors")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, screenshot_dir, "label-rubric-anchors")
    # The picked point's anchor stays once the focus moves on.
    page.locator("#rationale").focus()
    expect(anchor_of(page, 1)).to_have_text("3partly answers")
    expect(page.locator("[data-rubric-row]:focus-within")).to_have_count(0)

    page.keyboard.press("Control+Enter")
    wait_for(lambda: Annotation.objects.filter(task=task).exists())
    scores = Annotation.objects.get(task=task).payload["scores"]
    assert list(scores.values()) == [{"helpfulness": 4, "honesty": 3, "tone": 5}]


def test_raters_of_a_judge_run_score_by_the_judges_rubric_with_the_reference_in_view(
    page, screenshot_dir, project, labeler, llm_server
):
    eval_set = eval_set_create(project=project, name="Tiny set")
    eval_set_import_questions(eval_set=eval_set, lines=[json.dumps(q) for q in QUESTIONS])
    candidates_import(eval_set=eval_set, lines=answers("alpha"))
    llm_server.respond_with(lambda r: '{"overall": 7}')
    config = judge_config_create(
        project=project,
        name="scripted judge",
        base_url=llm_server.base_url,
        model="judge-1",
        family="multidimensional",
    )
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    human_tasks_create(run=run, overlap=1)
    start(page)
    shot = False
    for answered in range(1, 7):
        page.wait_for_selector("#work[data-ready]")
        rows = page.locator("[data-rubric-row]")
        names = [rows.nth(i).get_attribute("data-criterion-name") for i in range(rows.count())]
        category = "math" if page.locator(".reference").count() else "writing"
        assert names == [*MULTIDIM_DIMENSIONS[category], "overall"]
        # The judge's scale: 1 to 10, where 0 is 10.
        assert page.locator("thead th.num").all_inner_texts() == [str(p) for p in range(1, 11)]
        legend = page.locator(".anchor-legend").inner_text()
        assert "8\nas good as the reference answer" in legend
        # A digit scores the row in focus; Tab goes on to the next criterion.
        page.locator(".answer-card").focus()
        for _ in names[:-1]:
            page.keyboard.press("6")
            page.keyboard.press("Tab")
        page.keyboard.press("0")
        assert page.locator('input[data-criterion="overall"][value="10"]').is_checked()
        expect(anchor_of(page, len(names) - 1)).to_have_text(
            "10clearly better than the reference answer"
        )
        if category == "math" and not shot:
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, screenshot_dir, "label-rubric-judge")
            shot = True
        old = page.locator("#work").get_attribute("data-task")
        page.keyboard.press("Control+Enter")
        wait_for(lambda n=answered: Annotation.objects.filter(task__project=project).count() == n)
        if answered < 6:
            page.wait_for_function(
                "(old) => { const w = document.getElementById('work');"
                " return w && w.dataset.ready && w.dataset.task && w.dataset.task !== old; }",
                arg=old,
            )
    assert shot
    assert page.locator("#work[data-task]").count() == 0
    collected = human_judgments_collect(run=run)
    assert collected.recorded == 6
    human = Judgment.objects.filter(run=run, rater_group="human")
    assert set(human.values_list("score", flat=True)) == {10.0}
    assert set(human.get(item__question__question_id="4").dimension_scores.values()) == {6.0}
