"""Run pages: access for every role, htmx polling that stops when the run is done, cancel,
resume and exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from evaluation.models import EvalRun, Judgment, RunStatus
from evaluation.services import eval_run_create
from labeling.models import Role
from labeling.services import membership_set
from tests.conftest import PASSWORD


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


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_run_page_shows_results_bias_and_warnings(client, owner, finished_run):
    login(client, owner)
    response = client.get(reverse("evaluation:run", args=[finished_run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pairs-table"' in html and 'id="bias-table"' in html
    assert "66.7%" in html  # alpha's win rate, 4 of 6
    assert "Length bias" in html
    assert "hx-trigger" not in html  # finished: no polling


def test_run_page_polls_while_running_and_stops_when_done(client, owner, queued_run):
    login(client, owner)
    url = reverse("evaluation:run", args=[queued_run.pk])
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in page
    poll = client.get(url, headers={"HX-Request": "true"})
    assert poll.status_code == 200 and b"run-region" in poll.content
    assert b"<html" not in poll.content  # the partial only
    EvalRun.objects.filter(pk=queued_run.pk).update(status=RunStatus.SUCCEEDED)
    final = client.get(url, headers={"HX-Request": "true"})
    assert final.status_code == 286  # HttpResponseStopPolling
    assert b"hx-trigger" not in final.content


@pytest.mark.parametrize("name", ["run", "run_export_csv", "project_runs"])
def test_pages_refuse_strangers_and_anonymous(client, stranger, queued_run, name):
    if name == "project_runs":
        url = reverse("evaluation:project_runs", args=[queued_run.project_id])
    elif name == "run_export_csv":
        url = reverse("evaluation:run_export", args=[queued_run.pk, "csv"])
    else:
        url = reverse("evaluation:run", args=[queued_run.pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    login(client, stranger)
    assert client.get(url).status_code == 404


def test_labeler_may_not_see_runs(client, labeler, queued_run):
    login(client, labeler)
    assert client.get(reverse("evaluation:run", args=[queued_run.pk])).status_code == 403


def test_cancel_from_the_page(client, owner, queued_run):
    login(client, owner)
    response = client.post(
        reverse("evaluation:run_cancel", args=[queued_run.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "showToast" in response["HX-Trigger"]
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.CANCELLED
    again = client.post(reverse("evaluation:run_cancel", args=[queued_run.pk]))
    assert again.status_code == 302  # no htmx: back to the page; the error shows there


def test_cancel_and_resume_refuse_strangers_anonymous_and_reviewers(
    client, stranger, reviewer, queued_run
):
    url = reverse("evaluation:run_cancel", args=[queued_run.pk])
    assert client.post(url).status_code == 302  # anonymous: to the login page
    login(client, stranger)
    assert client.post(url).status_code == 404
    login(client, reviewer)
    assert client.post(url).status_code == 403
    assert client.post(reverse("evaluation:run_resume", args=[queued_run.pk])).status_code == 403
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED


def test_resume_requeues_a_cancelled_run(
    client, owner, queued_run, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    login(client, owner)
    client.post(reverse("evaluation:run_cancel", args=[queued_run.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("evaluation:run_resume", args=[queued_run.pk]))
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED
    assert DBTaskResult.objects.filter(args_kwargs__kwargs__run_id=queued_run.pk).count() == 1


def test_exports_hold_every_judgment(client, owner, finished_run):
    login(client, owner)
    response = client.get(reverse("evaluation:run_export", args=[finished_run.pk, "csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == Judgment.objects.filter(run=finished_run).count() == 12
    assert {r["order"] for r in rows} == {"AB", "BA"}
    assert rows[0]["rater"] == "judge-1" and rows[0]["rater_group"] == "judge"
    data = json.loads(
        client.get(reverse("evaluation:run_export", args=[finished_run.pk, "json"])).content
    )
    assert data["results"]["overall"]["pairs"][0]["wins"] == 4
    assert len(data["judgments"]) == 12
    assert data["run"]["judge"]["model"] == "judge-1"


def test_project_runs_list_has_a_fixed_query_count(
    client, owner, project, finished_run, eval_set, make_config, django_assert_num_queries
):
    for n in range(3):
        eval_run_create(
            project=project,
            eval_set=eval_set,
            judge_config=make_config(),
            name=f"run {n}",
            mode="baseline",
            models=["alpha"],
            baseline="beta",
            start=False,
        )
    login(client, owner)
    url = reverse("evaluation:project_runs", args=[project.pk])
    # session, user, project, membership role, runs (+ nav roles from the context processor)
    with django_assert_num_queries(6):
        response = client.get(url)
    assert response.content.decode().count("evaluation/runs/") == 4


def test_empty_project_list_says_what_to_do(client, owner, project):
    membership_set(project=project, user=owner, role=Role.RESEARCHER)
    login(client, owner)
    html = client.get(reverse("evaluation:project_runs", args=[project.pk])).content.decode()
    assert "No evaluation runs in this project yet." in html


def test_start_a_run_from_the_page(
    client, owner, project, eval_set, make_config, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    config = make_config()
    login(client, owner)
    url = reverse("evaluation:run_new", args=[project.pk])
    form = client.get(url).content.decode()
    assert "alpha, beta" in form  # the models that have answers
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "name": "from the page",
                "eval_set": eval_set.pk,
                "judge_config": config.pk,
                "mode": "baseline",
                "models": "alpha",
                "baseline": "beta",
                "turns": "1, 2",
            },
        )
    run = EvalRun.objects.get(name="from the page")
    assert response.status_code == 302 and response["Location"] == reverse(
        "evaluation:run", args=[run.pk]
    )
    assert run.turns == [1, 2] and run.items_total == 12 and run.created_by == owner
    assert DBTaskResult.objects.filter(args_kwargs__kwargs__run_id=run.pk).count() == 1


def test_start_form_shows_the_services_error_and_keeps_what_was_typed(
    client, owner, project, eval_set, make_config
):
    from evaluation.services.runs import ERROR_BASELINE

    config = make_config()
    login(client, owner)
    response = client.post(
        reverse("evaluation:run_new", args=[project.pk]),
        {
            "name": "typo run",
            "eval_set": eval_set.pk,
            "judge_config": config.pk,
            "mode": "baseline",
            "models": "alpha",
            "baseline": "alpha",
            "turns": "1",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert ERROR_BASELINE in html
    assert 'value="typo run"' in html
    assert not EvalRun.objects.exists()


def test_start_form_refuses_strangers_anonymous_and_reviewers(client, stranger, reviewer, project):
    url = reverse("evaluation:run_new", args=[project.pk])
    assert client.get(url).status_code == 302
    login(client, stranger)
    assert client.post(url, {"name": "x"}).status_code == 404
    login(client, reviewer)
    assert client.get(url).status_code == 403
    assert not EvalRun.objects.exists()
