"""The agreement demo loader: the shipped MT-Bench files import once and give the paper's
figures; loading again adds nothing."""

import io

from django.urls import reverse

from evaluation import demo as evaluation_demo
from evaluation.agreement import looks_like_judge
from evaluation.demo_agreement import DEMO_RATERS, SET_NAME, _demo_rating, load_demo
from evaluation.models import (
    AgreementReport,
    CandidateAnswer,
    EvalRun,
    ImportedJudgment,
    Judgment,
    JudgmentSet,
)
from evaluation.reports import agreement_default_groups, agreement_report_build
from tests.conftest import PASSWORD


def test_load_demo_imports_the_real_judgments_once_with_the_published_figures(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    judgment_set = JudgmentSet.objects.get(name=SET_NAME)
    assert judgment_set.project == project and judgment_set.vote_count == 5755
    assert ImportedJudgment.objects.count() == 5755
    assert AgreementReport.objects.count() == 3
    text = out.getvalue()
    assert (
        "gpt4_pair vs expert, turn 1: 66.0% with ties (886/1343), 84.6% without (727/859)" in text
    )
    assert "expert vs expert, turn 1: 63.0% with ties (454/721), 81.0% without (388/479)" in text
    assert text.count("with 5755 votes") == 1


def _login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_demo_report_opens_on_the_judge_against_the_experts(client, project, owner):
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    judgment_set = JudgmentSet.objects.get(name=SET_NAME)
    assert sorted(judgment_set.groups) == ["author", "expert", "gpt4_pair"]
    _login(client, owner)
    response = client.get(reverse("evaluation:set_report", args=[judgment_set.pk]))
    assert response.status_code == 200
    # Not the alphabetical author vs expert: GPT-4's verdicts against the experts'.
    assert (response.context["query"]["a"], response.context["query"]["b"]) == (
        "gpt4_pair",
        "expert",
    )
    assert response.context["report"]["judge"] is True
    html = response.content.decode()
    assert "Can the judge be trusted?" in html
    assert "compares two human groups" not in html


def test_two_groups_of_people_are_not_called_a_judge(client, project, owner):
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    judgment_set = JudgmentSet.objects.get(name=SET_NAME)
    _login(client, owner)
    url = reverse("evaluation:set_report", args=[judgment_set.pk])
    response = client.get(url, {"a": "expert", "b": "author", "turn": "1"})
    html = response.content.decode()
    assert response.context["report"]["judge"] is False
    assert "Can the judge be trusted?" not in html
    assert "How well do these two groups of people agree?" in html
    assert "this compares two human groups" in html
    assert "Choose gpt4_pair as group a" in html
    assert "judge" not in response.context["report"]["trust"]["verdict"]


def test_default_pairs_put_a_judge_first_and_people_second():
    assert agreement_default_groups(["author", "expert", "gpt4_pair"]) == ("gpt4_pair", "expert")
    assert agreement_default_groups(["author", "expert", "gpt4_pair", "gpt4_single"]) == (
        "gpt4_pair",
        "expert",
    )
    assert agreement_default_groups(["human", "judge"]) == ("judge", "human")
    assert agreement_default_groups(["author", "claude-3_pair", "human"]) == (
        "claude-3_pair",
        "human",
    )
    # No judge at all: two groups of people, experts before authors.
    assert agreement_default_groups(["author", "expert"]) == ("expert", "author")
    assert agreement_default_groups(["judge"]) == ("judge", "judge")
    assert agreement_default_groups([]) == ("", "")
    assert [
        g
        for g in ("gpt4_pair", "gpt4_single", "judge", "expert", "author", "human")
        if looks_like_judge(g)
    ] == ["gpt4_pair", "gpt4_single", "judge"]


# The answers missing from the shipped six-model file (the source lacks them).
MISSING_ANSWERS = {
    ("81", "gpt-4"),
    ("81", "llama-13b"),
    ("86", "alpaca-13b"),
    ("87", "alpaca-13b"),
    ("98", "alpaca-13b"),
    ("107", "llama-13b"),
    ("115", "gpt-4"),
    ("126", "alpaca-13b"),
    ("129", "claude-v1"),
    ("135", "claude-v1"),
    ("141", "alpaca-13b"),
    ("144", "llama-13b"),
    ("144", "vicuna-13b-v1.2"),
    ("154", "llama-13b"),
    ("157", "gpt-4"),
}


def test_demo_disagreements_show_both_answers(client, project, owner):
    users = {"researcher": owner}
    evaluation_demo.load_demo(project=project, users=users, stdout=io.StringIO())
    load_demo(project=project, users=users, stdout=io.StringIO())
    judgment_set = JudgmentSet.objects.get(name=SET_NAME)
    stored = set(CandidateAnswer.objects.values_list("question__question_id", "model"))
    assert len(stored) == 465
    rows = agreement_report_build(
        judgment_set=judgment_set, group_a="gpt4_pair", group_b="expert", turn=1
    ).result["disagreements"]
    without = [
        r
        for r in rows
        if not {(r["question_id"], r["model_a"]), (r["question_id"], r["model_b"])} <= stored
    ]
    # With only gpt-3.5-turbo and vicuna-13b answers 51 of the 457 had both; now all but the
    # few that need an answer the source does not have.
    assert (len(rows), len(rows) - len(without)) == (457, 446)
    assert all(
        {(r["question_id"], r["model_a"]), (r["question_id"], r["model_b"])} & MISSING_ANSWERS
        for r in without
    )
    _login(client, owner)
    shown = next(r for r in rows if r not in without)
    page = client.get(
        reverse("evaluation:set_item", args=[judgment_set.pk]),
        {"q": shown["question_id"], "a": shown["model_a"], "b": shown["model_b"], "turn": 1},
    )
    assert [bool(a["text"]) for a in page.context["answers"]] == [True, True]
    assert "No stored answer" not in page.content.decode()


def test_demo_raters_follow_their_stated_rules():
    anchor = "Lisbon harbour trams"  # three key words
    answer = "Lisbon has trams. " * 40  # 120 words, two of the three key words
    point, why = _demo_rating(DEMO_RATERS[0], anchor=anchor, answer=answer)
    assert (point, why) == (4, "Scripted demo rater: covers 67% of the key words, 4 of 5.")
    point, why = _demo_rating(DEMO_RATERS[1], anchor=anchor, answer=answer)
    assert (point, why) == (3, "Scripted demo rater: 120 words, 3 of 5 for thoroughness.")
    point, why = _demo_rating(DEMO_RATERS[1], anchor=anchor, answer="Porto. " * 400)
    assert (point, why) == (2, "Scripted demo rater: 400 words but off the point, 2 of 5.")


def test_demo_grading_run_has_a_score_report_to_open(client, project, owner):
    users = {"researcher": owner}
    evaluation_demo.load_demo(project=project, users=users, stdout=io.StringIO())
    out = io.StringIO()
    load_demo(project=project, users=users, stdout=out)
    load_demo(project=project, users=users, stdout=out)
    run = EvalRun.objects.get(project=project, name=evaluation_demo.SINGLE_RUN)
    judged = set(
        Judgment.objects.filter(run=run, rater_group="judge").values_list("item_id", flat=True)
    )
    people = Judgment.objects.filter(run=run, rater_group="human")
    # Both demo raters scored every answer the judge scored, once.
    assert people.count() == 2 * len(judged)
    assert set(people.values_list("rater", flat=True)) == set(DEMO_RATERS)
    assert out.getvalue().count("scores by the scripted demo raters") == 1
    _login(client, owner)
    response = client.get(reverse("evaluation:run_report", args=[run.pk]))
    assert (response.context["query"]["a"], response.context["query"]["b"]) == ("judge", "human")
    shown = response.context["report"]
    assert shown["kind"] == "scores"
    scores = shown["scores"]
    assert len(scores["categories"]) == 8 and [t["turn"] for t in scores["turns"]] == ["1", "2"]
    assert [len(board["rows"]) for board in scores["leaderboards"]] == [4, 4]
    assert scores["baseline_missing"] is False and scores["disagreement_count"] > 0
    assert scores["trust"]["verdict"] in response.content.decode()
    # The report was computed ahead by the loader: the page served the stored one.
    assert AgreementReport.objects.filter(run=run).count() == 1
