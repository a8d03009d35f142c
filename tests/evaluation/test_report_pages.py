"""Agreement report pages and API: access for every role, the report's content on a small
imported set and on a judge run with human votes, the item page, imports through the page,
sending a run to human raters, and pinned query counts on the list."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from evaluation.models import Judgment, JudgmentSet
from evaluation.services import eval_run_execute
from evaluation.services.imports import judgments_import
from labeling.models import Task
from tests.conftest import PASSWORD
from tests.evaluation.test_runner import longer_judge, make_run

# Two experts and a judge on four questions: the judge agrees with expert_1 everywhere and
# with expert_2 on q1 and q2.
CSV = """question_id,model_a,model_b,winner,judge,turn,category
1,m1,m2,model_a,gpt4_pair,1,writing
1,m1,m2,model_a,expert_1,1,writing
1,m2,m1,model_b,expert_2,1,writing
2,m1,m2,model_b,gpt4_pair,1,writing
2,m1,m2,model_b,expert_1,1,writing
2,m1,m2,model_b,expert_2,1,writing
3,m1,m2,tie,gpt4_pair,1,math
3,m1,m2,tie,expert_1,1,math
3,m1,m2,model_a,expert_2,1,math
4,m1,m2,model_a,gpt4_pair,1,math
4,m1,m2,model_a,expert_1,1,math
4,m1,m2,model_b,expert_2,1,math
"""


@pytest.fixture
def small_set(project, owner):
    handle = io.StringIO(CSV)
    handle.name = "small.csv"
    return judgments_import(sources=[handle], name="small", project=project, created_by=owner)


@pytest.fixture
def finished_run(project, eval_set, make_config, llm_server):
    llm_server.respond_with(longer_judge)
    return eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_set_report_shows_headline_categories_matrix_and_disagreements(client, owner, small_set):
    login(client, owner)
    url = reverse("evaluation:set_report", args=[small_set.pk])
    response = client.get(url, {"a": "gpt4_pair", "b": "expert"})
    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    # judge vs experts: 8 comparisons, 6 agree (q1 x2, q2 x2, q3 with expert_1, q4 with expert_1).
    assert report["headline"][0]["value"] == "75.0%" and "6 of 8" in report["headline"][0]["detail"]
    # Without ties: q3 drops out for both experts' pairs with the judge's tie -> 5/6.
    assert report["headline"][1]["detail"] == "5 of 6 votes"
    assert [c["name"] for c in report["categories"]] == ["math", "writing"]
    writing = next(c for c in report["categories"] if c["name"] == "writing")
    assert writing["with_ties"]["value"] == "100.0%"
    assert report["disagreement_count"] == 2
    first = report["disagreements"][0]
    assert first["url"].startswith(reverse("evaluation:set_item", args=[small_set.pk]))
    assert "Can the judge be trusted?" in html and "Confusion matrix" in html
    assert "Only 8 compared votes" in html  # small n is called out in plain words
    assert 'class="fill' in html and 'class="band"' in html
    # The diagonal of the confusion matrix holds the 6 agreements.
    cells = report["confusion"]["cells"]
    assert sum(c["n"] for row in cells for c in row["counts"] if c["diagonal"]) == 6


def test_item_page_lists_every_rater_on_the_item(client, owner, small_set):
    login(client, owner)
    url = reverse("evaluation:set_item", args=[small_set.pk])
    response = client.get(url, {"q": "4", "a": "m1", "b": "m2", "turn": "1"})
    assert response.status_code == 200
    votes = response.context["votes"]
    assert [(v["rater"], v["winner"]) for v in votes] == [
        ("expert_1", "m1"),
        ("expert_2", "m2"),
        ("gpt4_pair", "m1"),
    ]


def test_unknown_group_is_an_error_on_the_page_not_a_crash(client, owner, small_set):
    login(client, owner)
    response = client.get(
        reverse("evaluation:set_report", args=[small_set.pk]), {"a": "nobody", "b": "expert"}
    )
    assert response.status_code == 200
    assert "No judgments of group &#x27;nobody&#x27;" in response.content.decode()


def test_run_report_sends_items_to_raters_and_collects(client, owner, finished_run, project):
    login(client, owner)
    url = reverse("evaluation:run_report", args=[finished_run.pk])
    # The run's own page links to its report.
    run_page = client.get(reverse("evaluation:run", args=[finished_run.pk])).content.decode()
    assert f'href="{url}"' in run_page
    page = client.get(url)
    assert page.status_code == 200
    # Only the judge has voted: the page says so and offers to send the items to raters.
    assert "Send these items to human raters" in page.content.decode()
    response = client.post(
        reverse("evaluation:run_human_tasks", args=[finished_run.pk]), {"overlap": "3"}
    )
    assert response.status_code == 302
    tasks = Task.objects.filter(project=project, source__run=finished_run.pk)
    assert tasks.count() == 6 and set(tasks.values_list("required_annotations", flat=True)) == {3}
    assert "6 tasks sent to raters" in client.get(url).content.decode()
    response = client.post(reverse("evaluation:run_human_collect", args=[finished_run.pk]))
    assert response.status_code == 302
    assert not Judgment.objects.filter(run=finished_run, rater_group="human").exists()


def test_import_through_the_page_and_bad_rows_listed(client, owner, project):
    login(client, owner)
    url = reverse("evaluation:agreement", args=[project.pk])
    bad = SimpleUploadedFile(
        "bad.csv", b"question_id,model_a,model_b,winner,judge,turn\n1,a,b,x,e_1,1\n"
    )
    response = client.post(url, {"name": "bad", "file": bad})
    assert response.status_code == 400
    assert "line 2: winner &#x27;x&#x27;" in response.content.decode()
    assert not JudgmentSet.objects.exists()
    good = SimpleUploadedFile("good.csv", CSV.encode())
    response = client.post(url, {"name": "good", "file": good})
    judgment_set = JudgmentSet.objects.get(name="good")
    assert response.status_code == 302 and judgment_set.project == project
    assert judgment_set.vote_count == 12 and judgment_set.created_by == owner


def test_page_import_fills_mt_bench_categories_only_when_asked(client, owner, project):
    login(client, owner)
    url = reverse("evaluation:agreement", args=[project.pk])
    rows = b"question_id,model_a,model_b,winner,judge,turn\n81,a,b,model_a,expert_1,1\n"
    client.post(url, {"name": "own", "file": SimpleUploadedFile("own.csv", rows)})
    client.post(
        url,
        {"name": "mt", "format": "mtbench", "file": SimpleUploadedFile("mt.csv", rows)},
    )
    own, mt = JudgmentSet.objects.get(name="own"), JudgmentSet.objects.get(name="mt")
    assert (own.format, own.rows.get().category) == ("generic", "")
    assert (mt.format, mt.rows.get().category) == ("mtbench", "writing")


def test_index_lists_sets_and_runs_in_a_fixed_number_of_queries(
    client, owner, project, small_set, finished_run, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, owner)
    url = reverse("evaluation:agreement", args=[project.pk])
    with CaptureQueriesContext(connection) as one_set:
        client.get(url)
    for n in range(3):
        handle = io.StringIO(CSV)
        handle.name = f"more{n}.csv"
        judgments_import(sources=[handle], name=f"more{n}", project=project)
    # Session, user, the nav's roles, membership, sets, runs: no query per row.
    with django_assert_num_queries(len(one_set)):
        response = client.get(url)
    assert len(one_set) <= 7
    assert response.status_code == 200
    assert len(response.context["sets"]) == 4


PAGES = [
    ("evaluation:agreement", "project"),
    ("evaluation:set_report", "set"),
    ("evaluation:set_item", "set"),
    ("evaluation:run_report", "run"),
    ("evaluation:run_item", "run"),
]


@pytest.mark.parametrize("name,kind", PAGES)
def test_pages_refuse_strangers_and_anonymous(
    client, stranger, small_set, finished_run, name, kind
):
    pk = {"project": small_set.project_id, "set": small_set.pk, "run": finished_run.pk}[kind]
    url = reverse(name, args=[pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    login(client, stranger)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name", ["evaluation:run_human_tasks", "evaluation:run_human_collect"])
def test_human_buttons_refuse_strangers_anonymous_and_labelers(
    client, stranger, labeler, finished_run, name
):
    url = reverse(name, args=[finished_run.pk])
    assert "/login/" in client.post(url)["Location"]
    login(client, stranger)
    assert client.post(url).status_code == 404
    login(client, labeler)
    assert client.post(url).status_code in (403, 404)
    assert not Task.objects.filter(source__run=finished_run.pk).exists()


def test_import_page_refuses_a_labeler(client, labeler, project):
    login(client, labeler)
    url = reverse("evaluation:agreement", args=[project.pk])
    response = client.post(url, {"name": "x", "file": SimpleUploadedFile("x.csv", CSV.encode())})
    assert response.status_code in (403, 404)
    assert not JudgmentSet.objects.exists()


# -- API ---------------------------------------------------------------------------------------


def test_api_import_report_and_run_endpoints(owner, project, small_set, finished_run):
    api = APIClient()
    api.force_authenticate(owner)
    created = api.post(
        "/api/evaluation/judgment-sets/",
        {
            "project": project.pk,
            "name": "upload",
            "file": SimpleUploadedFile("u.csv", CSV.encode()),
        },
        format="multipart",
    )
    assert created.status_code == 201 and created.json()["vote_count"] == 12
    assert JudgmentSet.objects.get(name="upload").groups == {"expert": 8, "gpt4_pair": 4}
    report = api.get(
        f"/api/evaluation/judgment-sets/{small_set.pk}/report/",
        {"a": "gpt4_pair", "b": "expert", "category": "math"},
    ).json()
    assert report["with_ties"] == {**report["with_ties"], "agree": 2, "n": 4}
    assert set(report) >= {"without_ties", "cohen_kappa", "krippendorff_alpha", "per_category"}
    bad = api.post(
        "/api/evaluation/judgment-sets/",
        {
            "project": project.pk,
            "name": "bad",
            "file": SimpleUploadedFile(
                "b.csv", b"question_id,model_a,model_b,winner,judge,turn\n1,a,b,x,e,1\n"
            ),
        },
        format="multipart",
    )
    assert bad.status_code == 400 and "line 2" in bad.json()["error"]

    made = api.post(
        f"/api/evaluation/runs/{finished_run.pk}/human-tasks/", {"overlap": 2}, format="json"
    )
    assert made.status_code == 201 and made.json() == {"tasks": 6, "kind": "pairwise"}
    again = api.post(f"/api/evaluation/runs/{finished_run.pk}/human-tasks/", {}, format="json")
    assert again.status_code == 400 and "already" in again.json()["error"]
    collected = api.post(f"/api/evaluation/runs/{finished_run.pk}/human-judgments/collect/")
    assert collected.json() == {"tasks": 6, "annotations": 0, "recorded": 0, "removed": 0}
    judge_only = api.get(
        f"/api/evaluation/runs/{finished_run.pk}/agreement/", {"a": "judge", "b": "human"}
    )
    assert judge_only.status_code == 400 and "human" in judge_only.json()["error"]


API = [
    ("get", "/api/evaluation/judgment-sets/{set}/"),
    ("get", "/api/evaluation/judgment-sets/{set}/report/?a=gpt4_pair&b=expert"),
    ("get", "/api/evaluation/runs/{run}/agreement/?a=judge&b=judge"),
    ("post", "/api/evaluation/runs/{run}/human-tasks/"),
    ("post", "/api/evaluation/runs/{run}/human-judgments/collect/"),
]


@pytest.mark.parametrize("method,path", API)
def test_api_refuses_strangers_and_anonymous(stranger, small_set, finished_run, method, path):
    url = path.format(set=small_set.pk, run=finished_run.pk)
    assert getattr(APIClient(), method)(url).status_code == 401
    client = APIClient()
    client.force_authenticate(stranger)
    assert getattr(client, method)(url).status_code == 404
    assert not Task.objects.filter(source__run=finished_run.pk).exists()


def test_api_list_shows_strangers_nothing_and_refuses_their_import(stranger, small_set, project):
    client = APIClient()
    assert client.get("/api/evaluation/judgment-sets/").status_code == 401
    client.force_authenticate(stranger)
    assert client.get("/api/evaluation/judgment-sets/").json()["results"] == []
    response = client.post(
        "/api/evaluation/judgment-sets/",
        {"project": project.pk, "name": "x", "file": SimpleUploadedFile("x.csv", CSV.encode())},
        format="multipart",
    )
    assert response.status_code == 404
    assert JudgmentSet.objects.count() == 1


def test_api_list_query_count_is_pinned(owner, project, small_set, django_assert_num_queries):
    for n in range(3):
        handle = io.StringIO(CSV)
        handle.name = f"more{n}.csv"
        judgments_import(sources=[handle], name=f"more{n}", project=project)
    client = APIClient()
    client.force_authenticate(owner)
    with django_assert_num_queries(1):
        response = client.get("/api/evaluation/judgment-sets/")
    assert len(response.json()["results"]) == 4
