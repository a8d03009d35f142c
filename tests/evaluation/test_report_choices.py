"""What a report can be asked about: the pages' turn and category pickers offer what the
judgments have (not a fixed 1 and 2, not only the filtered report's categories), and the API
answers a report without a and b with the same pair the page opens on."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from evaluation.models import EvalItem
from evaluation.reports import agreement_choices
from evaluation.services import eval_run_execute
from evaluation.services.imports import judgments_import
from evaluation.services.judgments import judgment_record
from tests.conftest import PASSWORD
from tests.evaluation.test_runner import first_judge, make_run

# Turns 1 and 3 (a three-turn benchmark), two categories, a judge and two experts.
CSV = """question_id,model_a,model_b,winner,judge,turn,category
1,m1,m2,model_a,gpt4_pair,1,writing
1,m1,m2,model_a,expert_1,1,writing
1,m1,m2,model_b,expert_2,1,writing
2,m1,m2,model_b,gpt4_pair,3,reasoning
2,m1,m2,model_b,expert_1,3,reasoning
2,m1,m2,tie,expert_2,3,reasoning
"""


@pytest.fixture
def three_turns(project, owner):
    handle = io.StringIO(CSV)
    handle.name = "three.csv"
    return judgments_import(sources=[handle], name="three", project=project, created_by=owner)


@pytest.fixture
def two_turn_run(project, eval_set, make_config, llm_server):
    llm_server.respond_with(first_judge)
    return eval_run_execute(run_id=make_run(project, eval_set, make_config(), turns=[1, 2]).pk)


def _page(client, owner, url, **params):
    assert client.login(username=owner.username, password=PASSWORD)
    response = client.get(url, params)
    assert response.status_code == 200
    return response


def test_set_page_offers_the_data_turns_and_every_category_when_filtered(
    client, owner, three_turns
):
    url = reverse("evaluation:set_report", args=[three_turns.pk])
    response = _page(client, owner, url, category="writing")
    assert response.context["turns"] == [1, 3]
    # The report is filtered to writing; the picker still offers both categories.
    assert [c["name"] for c in response.context["report"]["categories"]] == ["writing"]
    assert response.context["categories"] == ["reasoning", "writing"]
    html = response.content.decode()
    assert '<option value="3" >3</option>' in html and '<option value="2"' not in html
    assert '<option value="reasoning">' in html
    selected = _page(client, owner, url, turn="3").content.decode()
    assert '<option value="3" selected>3</option>' in selected


def test_run_page_offers_the_runs_turns_and_categories(client, owner, two_turn_run):
    url = reverse("evaluation:run_report", args=[two_turn_run.pk])
    response = _page(client, owner, url, category="math")
    # Each group once (the judge has 24 judgments here).
    assert response.context["groups"] == ["judge"]
    assert response.context["turns"] == [1, 2]
    assert response.context["categories"] == ["math", "writing"]


def test_choices_of_a_run_count_only_parsed_judgments(two_turn_run):
    choices = agreement_choices(run=two_turn_run)
    assert (choices.groups, choices.turns) == (["judge"], [1, 2])
    two_turn_run.judgments.filter(item__turn=2).update(status="error")
    assert agreement_choices(run=two_turn_run).turns == [1]


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_set_report_api_without_a_and_b_is_the_pages_default_pair(owner, three_turns):
    url = f"/api/evaluation/judgment-sets/{three_turns.pk}/report/"
    default = _api(owner).get(url)
    assert default.status_code == 200
    body = default.json()
    assert (body["group_a"], body["group_b"]) == ("gpt4_pair", "expert")
    explicit = _api(owner).get(url, {"a": "gpt4_pair", "b": "expert"}).json()
    assert body["with_ties"] == explicit["with_ties"] and body["with_ties"]["n"] == 4
    # One group named: the other is the default's.
    only_b = _api(owner).get(url, {"b": "gpt4_pair"}).json()
    assert (only_b["group_a"], only_b["group_b"]) == ("gpt4_pair", "gpt4_pair")


def test_run_agreement_api_defaults_to_judge_vs_human_once_people_voted(owner, two_turn_run):
    url = f"/api/evaluation/runs/{two_turn_run.pk}/agreement/"
    before = _api(owner).get(url)
    # Only the judge so far: the page's default is the judge against itself.
    assert before.status_code == 200
    assert (before.json()["group_a"], before.json()["group_b"]) == ("judge", "judge")
    for item in EvalItem.objects.filter(run=two_turn_run):
        judgment_record(
            run=two_turn_run,
            question_id=item.question.question_id,
            model_a=item.model_a,
            model_b=item.model_b,
            turn=item.turn,
            rater="ann",
            rater_group="human",
            winner=item.model_a,
        )
    after = _api(owner).get(url).json()
    assert (after["group_a"], after["group_b"]) == ("judge", "human")
    assert after["with_ties"]["n"] == EvalItem.objects.filter(run=two_turn_run).count()


def test_run_agreement_api_without_judgments_says_there_is_nothing(
    owner, project, eval_set, make_config
):
    run = make_run(project, eval_set, make_config())
    response = _api(owner).get(f"/api/evaluation/runs/{run.pk}/agreement/")
    assert response.status_code == 400
    assert response.json()["error"] == "There are no judgments to compare yet."


def test_schema_says_a_and_b_are_optional(owner):
    schema = _api(owner).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/evaluation/runs/{id}/agreement/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert not params["a"].get("required") and "report page opens on" in params["a"]["description"]


def test_strangers_get_no_default_report(stranger, two_turn_run):
    assert (
        _api(stranger).get(f"/api/evaluation/runs/{two_turn_run.pk}/agreement/").status_code == 404
    )
