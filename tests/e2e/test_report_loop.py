"""The human-evaluation loop in the browser: a judge run on the local OpenAI-compatible
server, a researcher sends its items to human raters, two raters answer the pairwise pages by
keys, the researcher collects and reads the judge-vs-human report. Plus the real MT-Bench
report as a manager would see it, and the score report of the demo's grading run.
Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evaluation import demo as evaluation_demo
from evaluation.demo_agreement import DATA as MT_BENCH
from evaluation.demo_agreement import rate_grading_run
from evaluation.models import Judgment
from evaluation.services import (
    candidates_import,
    eval_run_create,
    eval_run_execute,
    eval_set_create,
    eval_set_import_questions,
    judge_config_create,
)
from evaluation.services.imports import judgments_import
from labeling.models import Annotation, Role
from labeling.services import membership_set
from tests.conftest import login
from tests.evaluation.conftest import QUESTIONS, answers
from tests.evaluation.test_runner import longer_judge

pytestmark = pytest.mark.e2e


def shoot(page, screenshot_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(screenshot_dir / f"{name}-dark-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / f"{name}-dark-390.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture(autouse=True)
def _fewer_resamples(settings):
    settings.FLYWHEEL_EVAL_BOOTSTRAP_RESAMPLES = 200


def _answer_queue(browser, live_server, username: str, key_for) -> int:
    """Log in as a rater and answer every pairwise task by keys; returns how many."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    login(page, username)
    page.wait_for_load_state()
    page.goto("/queue/")
    page.get_by_role("button", name="Start labeling").click()
    # data-ready: the page's script has bound the keys to this task (a key pressed between
    # the swap and that moment would go nowhere).
    page.wait_for_selector("#work[data-task][data-ready]")
    done = 0
    while page.locator("#work[data-task]").count():
        task = page.locator("#work").get_attribute("data-task")
        texts = page.locator(".answer-card .answer-text").all_inner_texts()
        page.keyboard.press(key_for(texts))
        page.keyboard.press("Control+Enter")
        page.wait_for_function(
            "t => !document.querySelector('#work[data-task]') || "
            "(document.querySelector('#work').dataset.task !== t"
            " && document.querySelector('#work').dataset.ready)",
            arg=task,
        )
        done += 1
    context.close()
    return done


def test_judge_run_to_human_raters_in_the_browser_to_report(
    browser, page, live_server, screenshot_dir, project, owner, labeler, make_user, llm_server
):
    second = make_user("rater2")
    membership_set(project=project, user=second, role=Role.LABELER)
    eval_set = eval_set_create(project=project, name="Tiny set", created_by=owner)
    eval_set_import_questions(eval_set=eval_set, lines=[json.dumps(q) for q in QUESTIONS])
    candidates_import(eval_set=eval_set, lines=answers("alpha") + answers("beta"))
    llm_server.respond_with(longer_judge)
    config = judge_config_create(
        project=project, name="judge", base_url=llm_server.base_url, model="judge-1"
    )
    run = eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=config,
        name="alpha vs beta",
        mode="baseline",
        models=["alpha"],
        baseline="beta",
        start=False,
    )
    run = eval_run_execute(run_id=run.pk)

    login(page, owner.username)
    page.wait_for_load_state()
    page.goto(f"/evaluation/runs/{run.pk}/report/?a=judge&b=judge")
    page.get_by_role("button", name="Send these items to human raters").click()
    page.wait_for_selector("text=6 tasks sent to raters")

    # Rater 1 presses the key of the longer answer shown, rater 2 of the shorter one.
    def longer(texts):
        return "1" if len(texts[0]) >= len(texts[1]) else "2"

    def shorter(texts):
        return "2" if len(texts[0]) >= len(texts[1]) else "1"

    assert _answer_queue(browser, live_server, labeler.username, longer) == 6
    assert _answer_queue(browser, live_server, second.username, shorter) == 6
    assert Annotation.objects.filter(task__source__run=run.pk).count() == 12

    page.goto(f"/evaluation/runs/{run.pk}/report/")
    page.get_by_role("button", name="Collect submitted answers").click()
    page.wait_for_selector("text=Recorded 12 human votes")
    # Every submitted answer is now a human judgment naming the model of the answer the
    # annotation chose; the report counts them against the judge's verdict on the item.
    human = Judgment.objects.filter(run=run, rater_group="human")
    assert human.count() == 12
    for annotation in Annotation.objects.filter(task__source__run=run.pk):
        shown = {c.pk: c for c in annotation.task.completions.all()}
        by_length = sorted(shown, key=lambda pk: len(shown[pk].text))
        # What the rater meant: the longer answer for rater 1, the shorter for rater 2,
        # whichever side of the page it was shown on.
        meant = by_length[-1] if annotation.annotator == labeler else by_length[0]
        assert annotation.payload["winner"] == meant
        assert (
            human.get(
                rater=annotation.annotator.username, item_id=annotation.task.source["item"]
            ).winner
            == shown[meant].model_name
        )
    judge = {j.item_id: j.winner for j in Judgment.objects.filter(run=run, rater_group="judge")}
    agree = sum(judge[j.item_id] == j.winner for j in human)
    headline = page.locator(".stat").first.inner_text()
    assert f"{agree} of 12 votes" in headline
    assert page.locator("#dis-h").inner_text().endswith(str(12 - agree))
    shoot(page, screenshot_dir, "agreement-run")
    # Follow the first disagreement's link (a sticky table header can cover it for a click).
    page.goto(page.locator(".disagreement-list a").first.get_attribute("href"))
    page.wait_for_selector("text=Votes")
    assert page.locator("tr", has_text="rater2").count() >= 1
    assert page.locator("details summary", has_text="Reasoning").count() >= 1
    shoot(page, screenshot_dir, "agreement-item")


def test_the_real_mt_bench_report_reads_for_a_manager(page, screenshot_dir, project, owner):
    judgment_set = judgments_import(
        sources=[MT_BENCH / "human.csv", MT_BENCH / "gpt4_pair.csv"],
        name="MT-Bench",
        project=project,
        format="mtbench",
    )
    login(page, owner.username)
    page.wait_for_load_state()
    page.goto(f"/evaluation/judgment-sets/{judgment_set.pk}/report/?a=gpt4_pair&b=expert&turn=1")
    cards = page.locator(".stat")
    assert "66.0%" in cards.nth(0).inner_text() and "886 of 1343" in cards.nth(0).inner_text()
    assert "84.6%" in cards.nth(1).inner_text() and "727 of 859" in cards.nth(1).inner_text()
    assert "81.0%" in cards.nth(4).inner_text()  # experts among themselves, without ties
    assert page.locator(".bar-row:not(.bar-head)").count() == 8
    assert page.get_by_role("heading", name="Can the judge be trusted?").is_visible()
    shoot(page, screenshot_dir, "agreement-mtbench")
    # Tab order reaches the filters first, then the report's links.
    page.goto(f"/evaluation/projects/{project.pk}/agreement/")
    shoot(page, screenshot_dir, "agreement-index")


def test_the_score_report_of_the_demo_grading_run(page, screenshot_dir, project, owner):
    users = {"researcher": owner}
    evaluation_demo.load_demo(project=project, users=users, stdout=io.StringIO())
    run = rate_grading_run(project=project, stdout=io.StringIO())
    login(page, owner.username)
    page.wait_for_load_state()
    page.goto(f"/evaluation/runs/{run.pk}/report/")
    assert page.get_by_role("heading", name="Can the judge's scores be trusted?").is_visible()
    cards = page.locator(".stat")
    assert cards.count() == 6  # four statistics and two differences to people-people
    assert cards.nth(0).inner_text().startswith("Spearman")
    assert "human among themselves" in cards.nth(4).inner_text()
    assert page.locator(".score-row:not(.bar-head)").count() == 8
    assert page.locator("#slb-h").is_visible() and page.locator(".boards table").count() == 2
    shoot(page, screenshot_dir, "agreement-scores")
    # The largest disagreement: the answer, the judge's reasoning, both people's scores.
    page.goto(page.locator(".disagreement-list a").first.get_attribute("href"))
    page.wait_for_selector("#v-h")
    assert page.locator("#v-h").inner_text() == "Scores"
    assert page.locator(".answers.judged .answer-card").count() == 1
    # The largest disagreement is a second-turn answer (q104): its own first-turn reply is
    # above it, as context.
    assert "turn=2" in page.url and page.locator(".earlier .answer-card").count() == 1
    assert page.locator("tr", has_text="demo-rater-thoroughness").count() == 1
    assert page.locator("details summary", has_text="Reasoning").count() == 2  # two trials
    page.locator("details summary", has_text="Rationale").first.click()
    assert page.get_by_text("Scripted demo rater:").first.is_visible()
    shoot(page, screenshot_dir, "agreement-scores-item")
