"""The score agreement report from stored rows: a single-grading judge run with two people's
scores, read through the service, the report page, the item page, the API and
``agreement_report`` (text and --json), and an imported set of scores."""

from __future__ import annotations

import io
import json
from html import unescape

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from evaluation.models import RaterGroup
from evaluation.reports import agreement_report_build
from evaluation.services import eval_run_execute
from evaluation.services.imports import judgments_import
from evaluation.services.judgments import judgment_record
from tests.conftest import PASSWORD
from tests.evaluation.test_runner import make_run

LONG_MARK = "long and detailed"


def _grade(request: dict) -> str:
    """The scripted judge: 8 for the long answer, 3 for the short one."""
    prompt = request["messages"][-1]["content"]
    return "Long and complete. [[8]]" if LONG_MARK in prompt else "Too short. [[3]]"


# What the two people gave (alpha is the long answer on q1-q4, beta on q5-q6): close to the
# judge except rater2 on q1/alpha (3 where the judge gave 8) and rater1 on q5/beta.
def _human(rater: str, question: str, model: str, long: bool) -> float:
    if (rater, question, model) == ("rater2", "1", "alpha"):
        return 3
    if (rater, question, model) == ("rater1", "5", "beta"):
        return 4
    return (7 if rater == "rater1" else 9) if long else (4 if rater == "rater1" else 2)


@pytest.fixture
def scored_run(project, eval_set, make_config, llm_server):
    llm_server.respond_with(_grade)
    config = make_config(family="single")
    run = make_run(project, eval_set, config, mode="single", models=["alpha", "beta"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    for item in run.items.select_related("question"):
        qid = item.question.question_id
        long = (item.model_a == "alpha") == (int(qid) <= 4)
        for rater in ("rater1", "rater2"):
            judgment_record(
                run=run,
                question_id=qid,
                model_a=item.model_a,
                turn=item.turn,
                rater=rater,
                rater_group=RaterGroup.HUMAN,
                score=_human(rater, qid, item.model_a, long),
                raw_output=json.dumps(
                    {"scores": {"overall": 3}, "rationale": f"{rater} read it closely"}
                ),
            )
    return run


def test_service_reports_scores_with_baseline_names_and_the_judges_scale(scored_run):
    result = agreement_report_build(run=scored_run, group_a="judge", group_b="human").result
    assert result["kind"] == "scores"
    scores = result["scores"]
    # 12 answers (6 questions x 2 models, turn 1), the judge against each of the two people.
    assert (scores["n"], scores["n_items"], scores["n_questions"]) == (24, 12, 6)
    assert scores["scale"] == [1.0, 10.0]
    assert scores["spearman"] > 0.5 and scores["spearman_ci"][0] is not None
    # rater1 against rater2 on the 12 answers: the people-people baseline.
    assert scores["difference"]["reference_group"] == "human"
    assert scores["difference"]["reference"]["n"] == 12
    assert set(scores["per_category"]) == {"math", "writing"}
    assert "difference" in scores["per_category"]["math"]
    # q1/alpha: judge 8 against 7 and 3 (mean 5) is the largest difference, named by people.
    first = scores["disagreements"][0]
    assert (first["question_id"], first["model"], first["difference"]) == ("1", "alpha", 3.0)
    assert {s["rater"] for s in first["scores_b"]} == {"rater1", "rater2"}
    assert first["scores_a"][0]["rater"].startswith("judge-1")
    assert [row["model"] for row in scores["leaderboards"]["judge"]] == ["alpha", "beta"]
    assert scores["rank_correlation"]["n_models"] == 2
    assert scores["trust"]["verdict"] and scores["trust"]["tone"] in ("ok", "warn", "bad")
    # Stored and served again while nothing changed.
    again = agreement_report_build(run=scored_run, group_a="judge", group_b="human")
    assert again.result == result


def _login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_report_page_shows_the_score_report(client, owner, scored_run):
    _login(client, owner)
    response = client.get(reverse("evaluation:run_report", args=[scored_run.pk]))
    assert response.status_code == 200
    assert (response.context["query"]["a"], response.context["query"]["b"]) == ("judge", "human")
    shown = response.context["report"]["scores"]
    assert [h["label"] for h in shown["headline"][:4]] == [
        "Spearman",
        "Kendall tau-b",
        "Pearson",
        "Mean absolute difference",
    ]
    assert shown["headline"][4]["label"] == "Judge minus people-people: Spearman"
    assert "human among themselves" in shown["headline"][4]["detail"]
    assert [c["name"] for c in shown["categories"]] == ["math", "writing"]
    assert [t["turn"] for t in shown["turns"]] == ["1"]
    assert [b["group"] for b in shown["leaderboards"]] == ["judge", "human"]
    html = unescape(response.content.decode())
    for text in (
        "Can the judge's scores be trusted?",
        "By category",
        "Largest disagreements",
        "Leaderboards",
        "Rank correlation",
        shown["trust"]["verdict"],
    ):
        assert text in html, text
    assert 'class="fill' in html and 'class="band"' in html
    link = shown["disagreements"][0]["url"]
    assert link.startswith(reverse("evaluation:run_item", args=[scored_run.pk])) and "b=&" in link

    # The item: the one answer, the judge's reasoning, each person's score and rationale.
    item = client.get(link)
    assert item.status_code == 200
    html = unescape(item.content.decode())
    assert item.context["single"] is True and len(item.context["answers"]) == 1
    assert LONG_MARK in html  # q1/alpha is the long answer
    assert "Long and complete." in html  # the judge's reasoning
    assert "rater2 read it closely" in html and "Rationale" in html
    scores = {v["rater"]: v["score"] for v in item.context["votes"]}
    assert scores["rater1"] == 7 and scores["rater2"] == 3


def test_report_page_without_a_baseline_says_how_to_get_one(client, owner, scored_run):
    scored_run.judgments.filter(rater="rater2").delete()
    _login(client, owner)
    response = client.get(reverse("evaluation:run_report", args=[scored_run.pk]))
    assert response.context["report"]["scores"]["baseline_missing"] is True
    assert "No people-people baseline yet" in response.content.decode()


def test_api_and_command_give_the_same_report_as_the_page(owner, scored_run):
    api = APIClient()
    api.force_authenticate(owner)
    body = api.get(
        f"/api/evaluation/runs/{scored_run.pk}/agreement/", {"a": "judge", "b": "human"}
    ).json()
    scores = body["scores"]
    assert set(scores) >= {
        "spearman_ci",
        "kendall_tau_b_ci",
        "pearson_ci",
        "mean_absolute_difference_ci",
        "difference",
        "per_turn",
        "per_category",
        "disagreements",
        "leaderboards",
        "rank_correlation",
        "trust",
        "explain",
    }
    out = io.StringIO()
    call_command(
        "agreement_report", "--run", str(scored_run.pk), "--a", "judge", "--b", "human",
        "--json", stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())["scores"] == scores

    text = io.StringIO()
    call_command(
        "agreement_report", "--run", str(scored_run.pk), "--a", "judge", "--b", "human",
        stdout=text,
    )  # fmt: skip
    printed = text.getvalue()
    assert f"spearman                  {scores['spearman']:.3f}" in printed
    assert "human vs itself (12 pairs)" in printed
    assert f"verdict: {scores['trust']['verdict']}" in printed
    assert "leaderboard judge: alpha" in printed


SCORES_CSV = """question_id,model,turn,judge,score,category
1,m1,1,gpt4_single,9,writing
1,m1,1,expert_1,8,writing
1,m1,1,expert_2,9,writing
1,m2,1,gpt4_single,2,writing
1,m2,1,expert_1,8,writing
1,m2,1,expert_2,7,writing
2,m1,1,gpt4_single,5,math
2,m1,1,expert_1,5,math
2,m1,1,expert_2,4,math
"""


def test_imported_scores_report_and_item_page(client, owner, project):
    handle = io.StringIO(SCORES_CSV)
    handle.name = "scores.csv"
    judgment_set = judgments_import(
        sources=[handle], name="scores", project=project, created_by=owner
    )
    _login(client, owner)
    response = client.get(reverse("evaluation:set_report", args=[judgment_set.pk]))
    assert (response.context["query"]["a"], response.context["query"]["b"]) == (
        "gpt4_single",
        "expert",
    )
    result = agreement_report_build(
        judgment_set=judgment_set, group_a="gpt4_single", group_b="expert"
    ).result
    # No judge template: the scale is the lowest and highest score seen, 2 to 9.
    assert result["scores"]["scale"] == [2.0, 9.0]
    (row,) = result["scores"]["disagreements"]  # 2 vs 7.5 on q1/m2; the rest within 1.4
    assert (row["question_id"], row["model"]) == ("1", "m2")
    shown = response.context["report"]["scores"]
    assert response.context["categories"] == ["math", "writing"]
    item = client.get(shown["disagreements"][0]["url"])
    assert item.status_code == 200
    assert {v["rater"]: v["score"] for v in item.context["votes"]} == {
        "gpt4_single": 2.0,
        "expert_1": 8.0,
        "expert_2": 7.0,
    }
    assert "Scores" in item.content.decode()
