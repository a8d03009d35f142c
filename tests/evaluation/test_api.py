"""The evaluation API: the same services as the pages, JSON errors, access for every role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from evaluation.models import EvalRun, EvalSet, JudgeConfig, JudgeTemplate
from evaluation.services import eval_run_create
from evaluation.services.configs import ERROR_UNKNOWN_VARIABLE
from evaluation.services.runs import ERROR_BASELINE

DATA = Path(__file__).resolve().parents[2] / "evaluation" / "data" / "mt_bench"


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def test_mt_bench_import_through_the_api(api, project):
    created = api.post(
        "/api/evaluation/eval-sets/", {"project": project.pk, "name": "MT-Bench"}, format="json"
    )
    assert created.status_code == 201
    set_id = created.json()["id"]
    questions = (DATA / "question.jsonl").read_text()
    response = api.post(
        f"/api/evaluation/eval-sets/{set_id}/questions/", {"jsonl": questions}, format="json"
    )
    assert response.status_code == 200 and response.json()["rows"] == 80
    refs = (DATA / "reference_answer_gpt-4.jsonl").read_text()
    assert (
        api.post(
            f"/api/evaluation/eval-sets/{set_id}/references/", {"jsonl": refs}, format="json"
        ).json()["rows"]
        == 30
    )
    answers = (DATA / "model_answers_2models.jsonl").read_text()
    assert (
        api.post(
            f"/api/evaluation/eval-sets/{set_id}/answers/", {"jsonl": answers}, format="json"
        ).json()["rows"]
        == 159
    )
    eval_set = EvalSet.objects.get(pk=set_id)
    assert eval_set.question_count == 80
    q101 = eval_set.questions.get(question_id="101")
    assert q101.category == "reasoning" and len(q101.reference) == 2
    assert eval_set.questions.filter(answers__model="gpt-3.5-turbo").count() == 80


def test_bad_import_line_is_a_json_error_naming_the_line(api, eval_set):
    response = api.post(
        f"/api/evaluation/eval-sets/{eval_set.pk}/answers/",
        {"jsonl": '{"question_id": 1, "model": "x", "turns": ["a"]}\nnot json'},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Line 2: not valid JSON")


def test_create_config_and_run_enqueues_the_judge_task(
    api, project, eval_set, django_capture_on_commit_callbacks
):
    config = api.post(
        "/api/evaluation/judge-configs/",
        {
            "project": project.pk,
            "name": "gpt judge",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "judge-x",
            "trials": 2,
        },
        format="json",
    )
    assert config.status_code == 201, config.json()
    assert JudgeConfig.objects.get(pk=config.json()["id"]).template.name == "pairwise"
    with django_capture_on_commit_callbacks(execute=True):
        run = api.post(
            "/api/evaluation/runs/",
            {
                "project": project.pk,
                "eval_set": eval_set.pk,
                "judge_config": config.json()["id"],
                "name": "via api",
                "mode": "baseline",
                "models": ["alpha"],
                "baseline": "beta",
            },
            format="json",
        )
    assert run.status_code == 201, run.json()
    body = run.json()
    assert body["progress"]["total"] == 6 * 2 * 2 and body["status"] == "queued"
    task = DBTaskResult.objects.get(args_kwargs__kwargs__run_id=body["id"])
    assert task.queue_name == "default"


def test_domain_errors_are_400_with_the_message(api, project, eval_set, make_config):
    config = make_config()
    response = api.post(
        "/api/evaluation/runs/",
        {
            "project": project.pk,
            "eval_set": eval_set.pk,
            "judge_config": config.pk,
            "name": "bad",
            "mode": "baseline",
            "models": ["alpha"],
            "baseline": "alpha",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"error": ERROR_BASELINE}
    assert not EvalRun.objects.exists()


def test_custom_template_with_variables_and_unknown_variable(api, project):
    ok = api.post(
        "/api/evaluation/judge-templates/",
        {
            "project": project.pk,
            "name": "terse",
            "kind": "single",
            "parser": "rating",
            "prompt": "Grade {answer} to {question} as [[n]].",
        },
        format="json",
    )
    assert ok.status_code == 201 and len(ok.json()["version"]) == 16
    bad = api.post(
        "/api/evaluation/judge-templates/",
        {
            "project": project.pk,
            "name": "typo",
            "kind": "single",
            "parser": "rating",
            "prompt": "Grade {answr}.",
        },
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"].startswith(ERROR_UNKNOWN_VARIABLE.split("{")[0])
    assert not JudgeTemplate.objects.filter(name="typo").exists()


def test_results_and_judgments(api, finished_run):
    results = api.get(f"/api/evaluation/runs/{finished_run.pk}/results/").json()
    assert results["overall"]["pairs"][0]["wins"] == 4
    page = api.get(f"/api/evaluation/runs/{finished_run.pk}/judgments/?page_size=5").json()
    assert len(page["results"]) == 5 and page["next"]
    first = page["results"][0]
    assert {"question_id", "model_a", "model_b", "turn", "order", "trial", "rater"} <= set(first)
    rest = api.get(page["next"]).json()
    assert rest["results"][0]["id"] > page["results"][-1]["id"]


def test_run_list_has_a_fixed_query_count(
    api, project, eval_set, make_config, finished_run, django_assert_num_queries
):
    for n in range(3):
        eval_run_create(
            project=project,
            eval_set=eval_set,
            judge_config=make_config(),
            name=f"r{n}",
            mode="baseline",
            models=["alpha"],
            baseline="beta",
            start=False,
        )
    with django_assert_num_queries(1):
        response = api.get("/api/evaluation/runs/")
    assert len(response.json()["results"]) == 4


def test_cancel_through_the_api(api, project, eval_set, make_config):
    run = eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=make_config(),
        name="c",
        mode="baseline",
        models=["alpha"],
        baseline="beta",
        start=False,
    )
    assert api.post(f"/api/evaluation/runs/{run.pk}/cancel/").json()["status"] == "cancelled"
    again = api.post(f"/api/evaluation/runs/{run.pk}/cancel/")
    assert again.status_code == 400 and "cancelled" in again.json()["error"]


ENDPOINTS = [
    ("get", "/api/evaluation/runs/{run}/"),
    ("get", "/api/evaluation/runs/{run}/results/"),
    ("get", "/api/evaluation/runs/{run}/judgments/"),
    ("post", "/api/evaluation/runs/{run}/cancel/"),
    ("post", "/api/evaluation/runs/{run}/resume/"),
    ("post", "/api/evaluation/eval-sets/{set}/answers/"),
    ("post", "/api/evaluation/eval-sets/{set}/questions/"),
    ("post", "/api/evaluation/eval-sets/{set}/references/"),
    ("get", "/api/evaluation/eval-sets/{set}/"),
    ("get", "/api/evaluation/judge-configs/{config}/"),
]


@pytest.fixture
def queued_run(project, eval_set, make_config):
    return eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=make_config(),
        name="queued",
        mode="baseline",
        models=["alpha"],
        baseline="beta",
        start=False,
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_endpoints_refuse_strangers_and_anonymous(stranger, queued_run, method, path):
    url = path.format(
        run=queued_run.pk, set=queued_run.eval_set_id, config=queued_run.judge_config_id
    )
    body = {"jsonl": json.dumps({"question_id": 1, "model": "x", "turns": ["hi"]})}
    anonymous = getattr(APIClient(), method)(url, body, format="json")
    assert anonymous.status_code == 401
    client = APIClient()
    client.force_authenticate(stranger)
    assert getattr(client, method)(url, body, format="json").status_code == 404
    queued_run.refresh_from_db()
    assert queued_run.status == "queued"
    assert queued_run.eval_set.questions.count() == 6


@pytest.mark.parametrize(
    "path",
    ["/api/evaluation/runs/", "/api/evaluation/eval-sets/", "/api/evaluation/judge-configs/"],
)
def test_lists_show_strangers_nothing_and_create_refuses_them(stranger, queued_run, path):
    client = APIClient()
    assert client.get(path).status_code == 401
    client.force_authenticate(stranger)
    assert client.get(path).json()["results"] == []
    created = client.post(
        path,
        {
            "project": queued_run.project_id,
            "name": "x",
            "eval_set": queued_run.eval_set_id,
            "judge_config": queued_run.judge_config_id,
            "mode": "single",
            "models": ["alpha"],
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
        },
        format="json",
    )
    assert created.status_code == 404


def test_reviewer_reads_but_may_not_write(reviewer, queued_run):
    client = APIClient()
    client.force_authenticate(reviewer)
    assert client.get(f"/api/evaluation/runs/{queued_run.pk}/").status_code == 200
    assert client.post(f"/api/evaluation/runs/{queued_run.pk}/cancel/").status_code == 403
    queued_run.refresh_from_db()
    assert queued_run.status == "queued"


def test_openapi_schema_has_the_evaluation_operations(api):
    schema = api.get("/api/schema/?format=json").json()
    assert "/api/evaluation/runs/{id}/results/" in schema["paths"]
    assert "/api/evaluation/eval-sets/{id}/answers/" in schema["paths"]
