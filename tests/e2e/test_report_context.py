"""The evaluation demo in the browser: a researcher reviews a second-turn item of the pairwise
run with the earlier exchange above it, the run report's pickers offer the run's turns and
categories, and the demo labeler's queue hands out the run's items as pairwise tasks.
Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation import demo as evaluation_demo
from evaluation.models import EvalRun
from flywheel.management.commands.demo_setup import DEMO_LOADERS
from tests.conftest import login
from tests.e2e.test_report_loop import shoot

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _fewer_resamples(settings):
    settings.FLYWHEEL_EVAL_BOOTSTRAP_RESAMPLES = 200


def test_second_turn_item_shows_the_earlier_exchange(page, screenshot_dir, project, owner):
    evaluation_demo.load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    run = EvalRun.objects.get(project=project, name=evaluation_demo.PAIR_RUN)
    login(page, owner.username)
    page.wait_for_load_state()

    page.goto(reverse("evaluation:run_report", args=[run.pk]))
    turn_options = page.locator("#f-turn option").all_inner_texts()
    assert turn_options == ["all", "1", "2"]
    categories = page.locator("#categories option").evaluate_all("os => os.map(o => o.value)")
    assert len(categories) == 8 and "writing" in categories
    page.select_option("#f-turn", "2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**turn=2**")
    assert page.locator("#f-turn").input_value() == "2"
    # The pairwise run's report with its human-rater box: the demo sent the items to raters.
    assert "tasks sent to raters" in page.locator("#human-h + p").inner_text()
    shoot(page, screenshot_dir, "agreement-run-turn2")

    models = {"q": "81", "a": evaluation_demo.MODELS[0], "b": evaluation_demo.MODELS[1]}
    page.goto(f"{reverse('evaluation:run_item', args=[run.pk])}?turn=2&" + urlencode(models))
    earlier = page.locator("details.earlier")
    assert earlier.is_visible()
    assert "context only, not judged" in earlier.locator("summary").inner_text()
    assert "Compose an engaging travel blog post" in earlier.inner_text()
    # Each model's own first reply, then the judged turn below the earlier exchange.
    assert earlier.locator(".answer-card").count() == 2
    judged = page.locator(".judged-h")
    assert judged.inner_text().startswith("Turn 2")
    assert judged.bounding_box()["y"] > earlier.bounding_box()["y"] + 100
    assert "Rewrite your previous response" in page.locator(".turn-last").inner_text()
    assert page.locator(".answers.judged .answer-card").count() == 2
    assert page.locator("tr", has_text="scripted-demo-judge").count() >= 1
    shoot(page, screenshot_dir, "agreement-item-turn2")
    # The earlier exchange folds away for a reviewer who has read it.
    earlier.locator("summary").click()
    assert not earlier.locator(".answer-card").first.is_visible()


def test_demo_labeler_is_handed_the_pairwise_runs_items(page, screenshot_dir):
    # The users, the project and the evaluation demo alone (the other loaders add their own
    # tasks and take minutes).
    skip = [path.rsplit(".", 1)[0] for path in DEMO_LOADERS if "evaluation.demo." not in path]
    call_command("demo_setup", skip=skip, stdout=io.StringIO())
    login(page, "labeler", "flywheel-demo")
    page.wait_for_url("**/queue/")
    page.get_by_role("button", name="Start labeling").click()
    page.wait_for_selector("#work[data-task][data-ready]")
    # A pairwise task of the MT-Bench demo: two answers, model names hidden.
    assert page.locator(".answer-card").count() == 2
    text = page.locator("main").inner_text()
    assert "vicuna" not in text and "gpt-3.5" not in text
    shoot(page, screenshot_dir, "demo-labeler-eval-task")
