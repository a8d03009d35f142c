"""A labeler works in the browser as on a normal day: demonstrations with markdown, preview,
a reload mid-draft and a keyboard submit; rankings by drag and drop and by keys with a tie;
pairwise by keys; the rubric grid; a skip with a reason; model HTML shown as text.
Screenshots of every page at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, AnnotationStatus, Assignment, Draft, Role
from labeling.services import (
    annotation_submit,
    assignment_claim,
    lease_expire_due,
    membership_set,
    prompt_bulk_create,
    task_bulk_create,
)
from tests.conftest import login
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.e2e

LONG = "\n\n".join(
    f"Paragraph {i}: the answer goes on, explaining every step in detail so that a reader "
    "can follow it without guessing what was meant."
    for i in range(40)
)


_made = 0


def shoot(page, screenshot_dir, name, *, dark=True):
    """`name`-1280 and -390 in the light scheme, then (with `dark`) -dark-1280 and -dark-390;
    the page is left light at 1280 px."""
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
    if dark:
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(screenshot_dir / f"{name}-dark-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(screenshot_dir / f"{name}-dark-1280.png"), full_page=True)
        page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})


def make_task(project, kind, texts, *, messages=None, reference=""):
    global _made
    _made += 1
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": messages
                or [{"role": "user", "content": f"{kind} question {_made}: explain `sorted()`."}],
                "task_type": "qa",
                "completions": [{"text": t, "model_name": f"m{i}"} for i, t in enumerate(texts)],
            }
        ],
    )
    ids = list(prompt.completions.order_by("pk").values_list("pk", flat=True))
    spec = {"kind": kind, "prompt": prompt.pk, "completions": ids}
    if reference:
        spec["reference"] = reference
    (task,) = task_bulk_create(project=project, tasks=[spec])
    return task


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def start(page, labeler_name="labeler"):
    login(page, labeler_name)
    page.wait_for_load_state()
    page.goto("/queue/")
    page.get_by_role("button", name="Start labeling").click()
    page.wait_for_selector("#work[data-task]")


def test_demonstration_with_preview_reload_and_keyboard_submit(
    page, screenshot_dir, project, labeler
):
    task = make_task(
        project,
        "demonstration",
        [],
        messages=[
            {"role": "user", "content": "Plan a trip to Lisbon."},
            {"role": "assistant", "content": "For how many days?"},
            {"role": "user", "content": "Three days, **on foot**."},
        ],
    )
    start(page)
    assert page.url.endswith(f"/tasks/{task.pk}/")  # pushed without a full page load
    assert page.locator(".turn-last .prose strong").inner_text() == "on foot"
    first = "# Day one\n\nWalk **Alfama** early."
    page.fill("#answer-text", first)
    assert page.locator("[data-word-count]").inner_text() == "6 words"
    page.get_by_role("tab", name="Preview").click()
    page.wait_for_selector("#panel-preview strong")
    assert page.locator("#panel-preview h1").inner_text() == "Day one"
    shoot(page, screenshot_dir, "label-demonstration-preview", dark=False)
    page.get_by_role("tab", name="Write").click()
    page.locator("#answer-text").press("End")
    page.keyboard.type("\n\nThen Belém.")
    page.wait_for_function(
        "document.querySelector('[data-autosave]').textContent.includes('saved')"
    )
    page.reload()
    page.wait_for_selector("#work[data-task]")
    text = first + "\n\nThen Belém."
    assert page.input_value("#answer-text") == text
    assert page.locator("[data-autosave]").inner_text() == "Draft restored"
    shoot(page, screenshot_dir, "label-demonstration")
    page.locator("#answer-text").focus()
    page.keyboard.press("Control+Enter")
    annotation = wait_for(lambda: Annotation.objects.filter(task=task).first())
    assert annotation.payload["text"] == text
    assert annotation.time_spent_ms > 0
    page.wait_for_selector("text=No work left for you")
    shoot(page, screenshot_dir, "label-no-work", dark=False)
    # The draft is gone from the device once it is saved.
    assert page.evaluate("Object.keys(localStorage).length") == 0


def ranks_on_page(page) -> list[list[int]]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.rank-slots .slot-items'))
             .map(s => Array.from(s.querySelectorAll('.rank-chip')).map(c => +c.dataset.id))
             .filter(t => t.length)"""
    )


def test_ranking_by_drag_and_drop_then_by_keyboard_with_a_tie(
    page, screenshot_dir, project, labeler
):
    project.answer_rating_max = 5
    project.save()
    first = make_task(project, "ranking", ["one", LONG, "three", "four"])
    second = make_task(project, "ranking", ["uno", "dos", "tres", "cuatro"])
    start(page)
    assert page.locator(".answer-card").count() == 4
    assert page.locator(".show-all").count() == 1  # the long answer is collapsed
    shoot(page, screenshot_dir, "label-ranking-empty")
    # Drag: letters D, C, B, A into ranks 1..4.
    for rank, letter in zip(range(1, 5), "DCBA", strict=True):
        chip = page.locator(f'.rank-chip:text-is("{letter}")')
        chip.drag_to(page.locator(f'.slot-items[data-rank="{rank}"]'))
    assert page.locator('.answer-card[data-letter="D"] [data-rank-label]').inner_text() == "Rank 1"
    page.locator('.answer-card[data-letter="B"] [data-flag="hallucination"]').click()
    page.locator('.answer-card[data-letter="A"] [data-rating="4"]').click()
    shown = ranks_on_page(page)
    assert [len(t) for t in shown] == [1, 1, 1, 1]
    shoot(page, screenshot_dir, "label-ranking")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"document.querySelector('#work').dataset.task == '{second.pk}'")
    annotation = Annotation.objects.get(task=first)
    assert annotation.payload["ranking"] == shown
    by_letter = dict(zip("ABCD", annotation.display_order, strict=True))
    assert annotation.flags == {str(by_letter["B"]): ["hallucination"]}
    assert annotation.ratings == {str(by_letter["A"]): 4}

    # Keyboard: focus each card and press its rank; B and D share rank 1 (a tie).
    for letter, key in zip("ABCD", "2131", strict=True):
        page.locator(f'.answer-card[data-letter="{letter}"]').focus()
        page.keyboard.press(key)
    assert page.locator('.answer-card[data-letter="B"] [data-rank-label]').inner_text() == (
        "Rank 1 (tie)"
    )
    page.locator('.answer-card[data-letter="C"]').focus()
    page.keyboard.press("0")  # unranked again
    error = page.locator("#answer-error")
    page.keyboard.press("Control+Enter")
    assert "C is not ranked yet" in error.inner_text()
    shoot(page, screenshot_dir, "label-ranking-error", dark=False)
    page.locator('.answer-card[data-letter="C"]').focus()
    page.keyboard.press("3")
    shown = ranks_on_page(page)
    assert [len(t) for t in shown] == [2, 1, 1]
    page.keyboard.press("Control+Enter")
    annotation = wait_for(lambda: Annotation.objects.filter(task=second).first())
    assert annotation.payload["ranking"] == [sorted(t) for t in shown]


def test_refused_ties_show_the_server_message_and_keep_the_ranking(page, project, labeler):
    project.allow_ties = False
    project.save()
    make_task(project, "ranking", ["one", "two"])
    start(page)
    # The board stops a tie; a forged tie sent anyway gets the server's message.
    page.locator('.answer-card[data-letter="A"]').focus()
    page.keyboard.press("1")
    page.locator('.answer-card[data-letter="B"]').focus()
    page.keyboard.press("1")
    assert (
        page.locator('.answer-card[data-letter="A"] [data-rank-label]').inner_text() == "Not ranked"
    )
    page.evaluate(
        """() => { const s = document.querySelector('.slot-items[data-rank="1"]');
                   document.querySelectorAll('.rank-chip').forEach(c => s.appendChild(c)); }"""
    )
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#answer-error .field-error")
    assert "does not allow ties" in page.locator("#answer-error").inner_text()
    assert page.locator('.slot-items[data-rank="1"] .rank-chip').count() == 2
    assert not Annotation.objects.exists()


def test_pairwise_by_keys_rubric_by_grid_and_a_skip(page, screenshot_dir, project, labeler):
    project.rubric = [
        {"name": "correctness", "description": "Facts and code are right."},
        {"name": "style", "description": "Clear and short."},
    ]
    project.save()
    pair = make_task(project, "pairwise", ["Use `sorted(xs)`.", "Use a loop."])
    rubric = make_task(project, "rubric", ["A fine answer."], reference="`sorted` returns a list.")
    skipped = make_task(project, "ranking", ["x", "y"])
    start(page)
    assert page.locator("#work").get_attribute("data-kind") == "pairwise"
    page.keyboard.press("2")
    assert page.locator('[data-choice="b"]').get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Much").click()
    page.fill("#rationale", "B explains more.")
    shoot(page, screenshot_dir, "label-pairwise")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#work[data-kind="rubric"]')
    annotation = Annotation.objects.get(task=pair)
    # "2" picks the answer shown second, whichever of the task's answers that was.
    assert annotation.payload["shown_choice"] == "b" and annotation.payload["strength"] == 3
    assert annotation.payload["winner"] == annotation.display_order[1]
    assert annotation.payload["rationale"] == "B explains more."

    assert page.locator(".reference .prose code").inner_text() == "sorted"
    page.locator('input[data-criterion="correctness"][value="4"]').check()
    page.locator('input[data-criterion="style"][value="2"]').check()
    shoot(page, screenshot_dir, "label-rubric")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#work[data-kind="ranking"]')
    scores = Annotation.objects.get(task=rubric).payload["scores"]
    assert list(scores.values()) == [{"correctness": 4, "style": 2}]

    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    shoot(page, screenshot_dir, "label-help", dark=False)
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.get_by_role("button", name="Skip task").click()
    page.wait_for_selector("#skip-error .field-error")
    page.fill("#skip-reason", "Needs a native speaker")
    page.get_by_role("button", name="Skip task").click()
    page.wait_for_selector("text=No work left for you")
    annotation = Annotation.objects.get(task=skipped)
    assert annotation.status == AnnotationStatus.SKIPPED
    assert annotation.skip_reason == "Needs a native speaker"


def test_model_html_renders_as_text(page, screenshot_dir, project, labeler):
    make_task(project, "pairwise", ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>"])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    start(page)
    cards = page.locator(".answer-card .answer-text")
    assert cards.nth(0).inner_text() + cards.nth(1).inner_text() in (
        "<img src=x onerror=alert(1)><script>alert(2)</script>",
        "<script>alert(2)</script><img src=x onerror=alert(1)>",
    )
    assert page.locator(".answer-card img").count() == 0
    page.wait_for_timeout(200)
    assert dialogs == []


def test_empty_queue_and_queue_with_projects(page, screenshot_dir, make_user, project, labeler):
    make_task(project, "ranking", ["a", "b"])
    nobody = make_user("nobody")
    login(page, "nobody")
    page.wait_for_load_state()
    page.goto("/queue/")
    assert page.locator(".empty").is_visible()
    shoot(page, screenshot_dir, "label-queue-empty", dark=False)
    membership_set(project=project, user=nobody, role=Role.REVIEWER)
    page.reload()
    assert page.get_by_role("button", name="Start labeling").is_visible()
    shoot(page, screenshot_dir, "label-queue")


def test_an_untouched_task_writes_no_draft_but_a_last_second_choice_is_kept(page, project, labeler):
    task = make_task(project, "pairwise", ["first answer", "second answer"])
    start(page)
    page.goto("/queue/")  # leaving fires pagehide
    page.wait_for_timeout(500)
    assert not Draft.objects.filter(task=task, user=labeler).exists()

    # A choice made just before leaving (inside the debounce) reaches the server on the way out.
    page.goto(f"/tasks/{task.pk}/")
    page.wait_for_selector("#work[data-ready]")
    page.keyboard.press("1")
    page.goto("/queue/")
    draft = wait_for(lambda: Draft.objects.filter(task=task, user=labeler).first())
    assert draft.state["kind"]["choice"] is not None


def test_draft_comes_back_from_the_server_after_cleared_storage_and_in_another_browser(
    page, browser, live_server, screenshot_dir, project, labeler
):
    task = make_task(project, "demonstration", [])
    start(page)
    text = "# Day one\n\nWalk **Alfama** early."
    page.fill("#answer-text", text)

    def server_text():
        draft = Draft.objects.filter(task=task, user=labeler).first()
        return draft and draft.state["kind"]["text"]

    wait_for(lambda: server_text() == text)
    # Storage cleared once the page is gone (a reload would write it again on the way out).
    page.goto("/queue/")
    page.evaluate("localStorage.clear()")
    page.goto(f"/tasks/{task.pk}/")
    page.wait_for_selector("#work[data-task]")
    assert page.input_value("#answer-text") == text
    assert page.locator("[data-autosave]").inner_text() == "Draft restored from the server"
    shoot(page, screenshot_dir, "label-draft-restored")

    # Another browser (its own storage) of the same labeler: the draft is there too, and what
    # is written there comes back to the first one.
    other = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    second = other.new_page()
    login(second, "labeler")
    second.wait_for_load_state()
    second.goto(f"/tasks/{task.pk}/")
    second.wait_for_selector("#work[data-task]")
    assert second.input_value("#answer-text") == text
    second.locator("#answer-text").press("End")
    second.keyboard.type("\n\nThen Belém.")
    wait_for(lambda: server_text() == text + "\n\nThen Belém.")
    other.close()
    page.reload()
    page.wait_for_selector("#work[data-task]")
    assert page.input_value("#answer-text") == text + "\n\nThen Belém."

    # A network error while saving is shown and retried; the text stays in the page.
    page.route("**/draft/", lambda route: route.abort())
    page.locator("#answer-text").press("End")
    page.keyboard.type(" Lunch in Baixa.")
    page.wait_for_function(
        "document.querySelector('[data-autosave]').textContent.includes('cannot be reached')"
    )
    assert "warn" in page.locator("[data-autosave]").get_attribute("class")
    shoot(page, screenshot_dir, "label-draft-offline", dark=False)
    page.unroute("**/draft/")
    final = text + "\n\nThen Belém. Lunch in Baixa."
    wait_for(lambda: server_text() == final, timeout=20)
    page.wait_for_function(
        "document.querySelector('[data-autosave]').textContent.startsWith('Draft saved')"
    )
    page.keyboard.press("Control+Enter")
    annotation = wait_for(lambda: Annotation.objects.filter(task=task).first())
    assert annotation.payload["text"] == final
    assert not Draft.objects.exists()


def test_queue_shows_agreement_beside_gold_accuracy(
    page, screenshot_dir, make_user, project, labeler
):
    bob = make_user("bob")
    membership_set(project=project, user=bob, role=Role.LABELER)
    tasks = make_tasks(project, n=3, required=2)
    for task, agree in zip(tasks, [True, True, False], strict=True):
        ids = answer_ids(task)
        for user, ranking in ((labeler, ids), (bob, ids if agree else ids[::-1])):
            assert assignment_claim(project=project, user=user).task_id == task.pk
            annotation_submit(task=task, user=user, data={"ranking": ranking})
    (gold,) = make_tasks(project, is_gold=True, gold_answer=lambda ids: {"ranking": [ids]})
    assert assignment_claim(project=project, user=labeler).task_id == gold.pk
    annotation_submit(task=gold, user=labeler, data={"ranking": answer_ids(gold)})
    login(page, "labeler")
    page.wait_for_load_state()
    page.goto("/queue/")
    # Two tasks agree on all 3 pairs, one on none: 6 of 9.
    assert page.locator("[data-agreement]").inner_text() == "67% of 9 comparisons"
    assert page.get_by_text("Gold accuracy").is_visible()
    shoot(page, screenshot_dir, "label-queue-agreement")


def test_reload_after_the_claim_expired_keeps_the_draft_and_submits(
    page, screenshot_dir, project, labeler
):
    task = make_task(project, "demonstration", [])
    start(page)
    text = "Written before the claim ran out."
    page.fill("#answer-text", text)
    wait_for(lambda: Draft.objects.filter(task=task, user=labeler).exists())
    Assignment.objects.filter(user=labeler).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert lease_expire_due() == 1
    page.reload()
    page.wait_for_selector("#work[data-ready]")
    assert page.input_value("#answer-text") == text
    assert (
        "accepted while the task has a free slot"
        in page.locator("[data-lease-expired]").inner_text()
    )
    assert page.locator("[data-lease-banner]").is_hidden()
    assert page.get_by_role("button", name="Submit and next").is_enabled()
    shoot(page, screenshot_dir, "label-expired", dark=False)
    page.locator("#answer-text").press("End")
    page.keyboard.type(" Still taken.")
    page.keyboard.press("Control+Enter")
    annotation = wait_for(lambda: Annotation.objects.filter(task=task).first())
    assert annotation.payload["text"] == text + " Still taken."
    page.wait_for_selector("text=No work left for you")
