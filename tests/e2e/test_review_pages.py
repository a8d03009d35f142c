"""A reviewer reads every annotation of a task side by side and rejects one with a comment;
the task goes back to the pool. Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, AnnotationStatus, Role, TaskStatus
from labeling.services import annotation_submit, assignment_claim, membership_set, review_create
from tests.conftest import login
from tests.e2e.test_label_pages import LONG, make_task, shoot, start, wait_for

pytestmark = pytest.mark.e2e


def test_reviewer_rejects_and_the_task_returns_to_the_pool(
    page, screenshot_dir, project, make_user, reviewer
):
    project.answer_rating_max = 3
    project.save()
    task = make_task(project, "ranking", ["Short and right.", LONG, "<b>bold?</b> wrong"])
    task.required_annotations = 2
    task.save()
    authors = []
    for name in ("ana", "bo"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Role.LABELER)
        lease = assignment_claim(project=project, user=user)
        order = lease.display_order
        annotation_submit(
            task=task,
            user=user,
            data={
                "ranking": [[order[0]], [order[1], order[2]]] if name == "ana" else order,
                "flags": {str(order[2]): ["hallucination"]},
                "ratings": {str(order[0]): 3},
                "rationale": f"{name} thinks the first is best.",
                "time_spent_ms": 61_000,
            },
        )
        authors.append(user)
    login(page, "reviewer")
    page.wait_for_load_state()
    page.goto("/queue/")
    page.get_by_role("link", name="Review answers").click()
    page.wait_for_selector("table.data")
    assert page.locator("table.data tbody tr").count() == 1
    shoot(page, screenshot_dir, "review-list")
    page.get_by_role("link", name=f"#{task.pk}").click()
    page.wait_for_selector(".review-grid")
    grid = page.locator(".review-grid").inner_text()
    assert "1 (tie)" not in grid and "2 (tie)" in grid  # ana tied two answers
    assert "Hallucination" in grid and "rating 3" in grid
    assert page.locator(".review-grid b").count() == 0  # model HTML stays text
    assert "ana thinks the first is best." in page.locator(".review-columns").inner_text()
    shoot(page, screenshot_dir, "review-task")

    card = page.locator(f"#annotation-{Annotation.objects.get(annotator=authors[0]).pk}")
    card.get_by_role("button", name="Reject").click()
    page.wait_for_selector(".review-columns .field-error")
    assert "rejection needs a comment" in page.locator(".field-error").inner_text()
    shoot(page, screenshot_dir, "review-error", dark=False)
    card = page.locator(f"#annotation-{Annotation.objects.get(annotator=authors[0]).pk}")
    card.get_by_label("Comment").fill("The long answer is padded; rank it last.")
    card.get_by_role("button", name="Reject").click()
    wait_for(
        lambda: Annotation.objects.get(annotator=authors[0]).status == AnnotationStatus.REJECTED
    )
    page.wait_for_selector('[data-status]:text-is("Rejected")')
    task.refresh_from_db()
    assert (task.submitted_count, task.status) == (1, TaskStatus.OPEN)
    again = assignment_claim(project=project, user=authors[0])
    assert again.task_id == task.pk  # back to its author first


def test_rework_starts_from_the_rejected_demonstration(
    page, screenshot_dir, project, labeler, reviewer
):
    task = make_task(project, "demonstration", [])
    lease = assignment_claim(project=project, user=labeler)
    assert lease.task_id == task.pk
    first = "Lisbon in three days:\n\n- Alfama\n- Belém"
    annotation = annotation_submit(task=task, user=labeler, data={"text": first})
    review_create(
        annotation=annotation, reviewer=reviewer, decision="reject", comment="Add day three."
    )
    start(page)
    page.wait_for_selector("#work[data-ready]")  # the script has restored the earlier answer
    assert page.input_value("#answer-text") == first
    assert "Add day three." in page.locator(".review-note").inner_text()
    assert page.locator("[data-autosave]").inner_text() == "Your earlier answer, to rework"
    shoot(page, screenshot_dir, "label-rework", dark=False)
    page.locator("#answer-text").press("End")
    page.keyboard.type("\n- Sintra")
    page.keyboard.press("Control+Enter")
    wait_for(lambda: Annotation.objects.get(task=task).status == AnnotationStatus.SUBMITTED)
    assert Annotation.objects.get(task=task).payload["text"] == first + "\n- Sintra"
    page.wait_for_selector("text=No work left for you")
