"""A researcher imports HH-RLHF pairs that ask one prompt twice and reads on the run page that
the repeat was counted as a duplicate in the file (its new answers added), then imports the file
again and reads that every row is already in the project; then reads which prompts a
synthesize run failed on, by id. Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import json

import pytest

from flywheel.testing.openai_server import Reply
from labeling.models import Prompt
from labeling.services.pipeline import import_run_start, pipeline_run_execute, prompts_synthesize
from labeling.services.prompts import prompt_bulk_create
from tests.conftest import login
from tests.e2e.shots import shoot

pytestmark = pytest.mark.e2e

QUESTION = "How do I keep basil alive on a windowsill?"


def hh(question, chosen, rejected):
    return {
        "chosen": f"\n\nHuman: {question}\n\nAssistant: {chosen}",
        "rejected": f"\n\nHuman: {question}\n\nAssistant: {rejected}",
    }


ROWS = [
    hh(QUESTION, "Give it six hours of sun and water when the soil is dry.", "Just ignore it."),
    hh("What is a good first houseplant for a dark flat?", "A snake plant.", "A cactus."),
    hh(QUESTION, "Pinch off the flowers so it keeps making leaves.", "Just ignore it."),
]


def figures(page):
    """The run's counts as the page shows them: label -> value."""
    rows = page.locator(".figures div").all()
    return {r.locator("dt").inner_text(): r.locator("dd").inner_text() for r in rows}


def funnel_row(page, name):
    return page.locator("#funnel-h ~ .table-scroll tr", has=page.locator(f"td:text-is('{name}')"))


def test_duplicates_in_the_file_and_in_the_project_on_the_run_page(
    page, screenshot_dir, project, owner, tmp_path
):
    path = tmp_path / "hh_pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    first = pipeline_run_execute(run=import_run_start(project=project, path=path, enqueue=False))
    basil = Prompt.objects.get(project=project, messages__0__content=QUESTION)
    assert basil.completions.count() == 3

    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/pipeline/runs/{first.pk}/")
    shown = figures(page)
    assert shown["Prompts"] == "2" and shown["Completions"] == "5"
    assert shown["Duplicates in file"] == "1" and shown["Duplicates in project"] == "0"
    assert shown["Completions on duplicates"] == "1"
    row = funnel_row(page, "exact_duplicate").inner_text()
    assert "repeated_in_file 1" in row and "repeats line 1 of this file" in row
    assert (
        "its first copy went through the filters" in page.locator("#funnel-duplicates").inner_text()
    )
    shoot(page, screenshot_dir, "pipeline-run-duplicates-in-file")

    again = pipeline_run_execute(run=import_run_start(project=project, path=path, enqueue=False))
    page.goto(f"/pipeline/runs/{again.pk}/")
    shown = figures(page)
    assert shown["Prompts"] == "0" and shown["Duplicates in project"] == "3"
    row = funnel_row(page, "exact_duplicate").inner_text()
    assert "already_in_project 3" in row
    assert f"already in the project as prompt #{basil.pk}" in row
    shoot(page, screenshot_dir, "pipeline-run-duplicates-in-project")


def test_failed_drafts_name_their_prompt_on_the_run_page(
    page, screenshot_dir, project, owner, llm_server
):
    questions = ["Explain how a refrigerator keeps food cold.", "Why does bread go stale?"]
    good, bad = prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": q}]} for q in questions]
    )

    def answer(request):
        if "bread" in request["messages"][-1]["content"]:
            return Reply(status=400, error_message="the model refused this one")
        return "It moves heat out of the box."

    llm_server.respond_with(answer)
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            drafts=True,
            candidates=2,
            llm_model="big-model",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    login(page, "owner")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/pipeline/runs/{run.pk}/")
    rows = page.locator("#fail-h + .table-scroll tbody tr")
    assert rows.count() == 3  # the draft and both candidate slots
    cells = [r.locator("td").all_inner_texts() for r in rows.all()]
    assert {c[0] for c in cells} == {f"#{bad.pk}"}
    assert sorted(c[1] for c in cells) == ["candidate", "candidate", "draft"]
    assert all("the model refused this one" in c[2] for c in cells)
    keys = rows.locator(".key").all_inner_texts()
    assert sorted(keys) == [
        f"{bad.content_hash}#0",
        f"{bad.content_hash}#0",
        f"{bad.content_hash}#1",
    ]
    assert good.pk != bad.pk
    shoot(page, screenshot_dir, "pipeline-run-failures")
