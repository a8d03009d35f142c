"""Snapshot API, admin and command: access for every role, create enqueues, status, download."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from labeling.exports import snapshot_build
from labeling.models import DatasetSnapshot, SnapshotStatus
from tests.labeling.exports.conftest import answer, tasks_for

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def answered(project, coders):
    tasks = tasks_for(project, kind="demonstration", task_types=["qa", "qa", "code"], answers=0)
    for i, task in enumerate(tasks):
        answer(project, coders[0], task, {"text": f"answer {i}"})
    return tasks


@pytest.fixture
def ready(project, owner, answered):
    from labeling.exports import snapshot_create

    snap = snapshot_create(project=project, name="ready", recipe={"kind": "sft"}, created_by=owner)
    return snapshot_build(snapshot=snap)


def test_create_stores_the_normal_recipe_and_enqueues_on_commit(
    project, owner, answered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            f"/api/projects/{project.pk}/snapshots/",
            {"name": "first", "recipe": {"kind": "sft", "seed": 5}},
            format="json",
        )
    assert response.status_code == 201, response.json()
    snap = DatasetSnapshot.objects.get(pk=response.json()["id"])
    assert snap.status == SnapshotStatus.BUILDING and snap.created_by == owner
    assert snap.recipe["seed"] == 5 and snap.recipe["projects"] == [project.pk]
    assert snap.stats["funnel"][0] == {"filter": "annotations in the projects", "count": 3}
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "labeling.exports.tasks.snapshot_build_task"
    assert queued.args_kwargs["kwargs"] == {"snapshot_id": snap.pk}
    # The worker runs the task: the row ends ready.
    from labeling.exports.tasks import snapshot_build_task

    assert snapshot_build_task.call(snapshot_id=snap.pk) == "ready"
    detail = api(owner).get(f"/api/snapshots/{snap.pk}/").json()
    assert detail["status"] == "ready" and sum(detail["row_counts"].values()) == 3


def test_empty_recipe_is_a_400_with_the_counts(project, owner, answered):
    response = api(owner).post(
        f"/api/projects/{project.pk}/snapshots/",
        {"name": "none", "recipe": {"kind": "preference"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("The recipe selects nothing: `annotation kind in")
    assert not DatasetSnapshot.objects.exists()


def test_download_files_of_a_ready_snapshot(owner, ready):
    response = api(owner).get(f"/api/snapshots/{ready.pk}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert len(body.splitlines()) == ready.row_counts["train"]
    assert json.loads(body.splitlines()[0])["task_type"] in {"qa", "code"}
    card = api(owner).get(f"/api/snapshots/{ready.pk}/download/?file=README.md")
    assert ready.content_hash in b"".join(card.streaming_content).decode()
    bad = api(owner).get(f"/api/snapshots/{ready.pk}/download/?file=../../etc/passwd")
    assert bad.status_code == 400


def test_list_is_keyset_paginated_with_pinned_queries(
    project, owner, ready, django_assert_num_queries
):
    with django_assert_num_queries(3):  # project, membership role, page
        response = api(owner).get(f"/api/projects/{project.pk}/snapshots/")
    assert [row["id"] for row in response.json()["results"]] == [ready.pk]


def test_every_endpoint_refuses_anonymous_strangers_and_labelers(
    project, ready, stranger, labeler, reviewer
):
    urls = [
        f"/api/projects/{project.pk}/snapshots/",
        f"/api/snapshots/{ready.pk}/",
        f"/api/snapshots/{ready.pk}/download/",
    ]
    for url in urls:
        assert api().get(url).status_code in (401, 403)
        assert api(stranger).get(url).status_code == 404
        assert api(labeler).get(url).status_code == 403
        assert api(reviewer).get(url).status_code == 403
    recipe = {"name": "x", "recipe": {"kind": "sft"}}
    assert api().post(urls[0], recipe, format="json").status_code in (401, 403)
    assert api(stranger).post(urls[0], recipe, format="json").status_code == 404
    assert api(labeler).post(urls[0], recipe, format="json").status_code == 403
    assert DatasetSnapshot.objects.count() == 1


def test_recipe_reading_another_project_needs_membership_there(project, owner, stranger, answered):
    from labeling.models import Membership

    foreign = Membership.objects.get(user=stranger).project_id
    response = api(owner).post(
        f"/api/projects/{project.pk}/snapshots/",
        {"name": "x", "recipe": {"kind": "sft", "projects": [foreign]}},
        format="json",
    )
    assert response.status_code == 404
    assert not DatasetSnapshot.objects.exists()


def test_schema_lists_the_snapshot_endpoints(owner):
    schema = api(owner).get("/api/schema/?format=json").json()
    assert "/api/projects/{id}/snapshots/" in schema["paths"]
    assert "/api/snapshots/{id}/download/" in schema["paths"]


def test_build_snapshot_command(project, answered, tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"kind": "sft", "name": "from file", "validation_fraction": 0}))
    call_command("build_snapshot", "--recipe", str(recipe), "--project", project.slug)
    snap = DatasetSnapshot.objects.get()
    assert snap.name == "from file" and snap.status == SnapshotStatus.READY
    assert snap.row_counts == {"train": 3}
    assert snap.content_hash in capsys.readouterr().out
    recipe.write_text(json.dumps({"kind": "sft", "task_types": ["math"]}))
    with pytest.raises(CommandError, match="`task_types \\(math\\)` left no annotations"):
        call_command("build_snapshot", "--recipe", str(recipe), "--project", project.slug)


def test_admin_adds_through_the_service_and_builds_again(project, make_user, answered, client):
    admin = make_user("root", superuser=True)
    client.force_login(admin)
    response = client.post(
        "/admin/labeling/datasetsnapshot/add/",
        {"project": project.pk, "name": "admin made", "recipe": '{"kind": "sft"}'},
    )
    assert response.status_code == 302
    snap = DatasetSnapshot.objects.get()
    assert snap.recipe["kind"] == "sft" and snap.created_by == admin
    refused = client.post(
        "/admin/labeling/datasetsnapshot/add/",
        {"project": project.pk, "name": "nothing", "recipe": '{"kind": "preference"}'},
    )
    assert refused.status_code == 200 and b"The recipe selects nothing" in refused.content
    client.post(
        "/admin/labeling/datasetsnapshot/",
        {"action": "build_again", "_selected_action": [snap.pk]},
    )
    assert DatasetSnapshot.objects.count() == 2
    assert client.get("/admin/labeling/datasetsnapshot/").status_code == 200
