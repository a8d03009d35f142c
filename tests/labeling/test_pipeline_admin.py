"""Admin: the add form starts a stage through its service; the prompts action restores
filtered prompts; a form error comes back on the form and starts nothing."""

import pytest

from labeling.models import PipelineRun, PipelineStatus, PromptStatus
from labeling.services.prompts import prompt_bulk_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, make_user):
    client.force_login(make_user("root", superuser=True, staff=True))
    return client


def test_admin_add_starts_a_run_through_the_service(
    admin_client_, project, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "p.txt"
    path.write_text("What is a prime number, exactly?\n")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client_.post(
            "/admin/labeling/pipelinerun/add/",
            {"project": project.pk, "stage": "import", "path": str(path), "limit": 100},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = PipelineRun.objects.get()
    assert run.stage == "import" and run.status == PipelineStatus.QUEUED
    assert run.input_name == "p.txt" and len(callbacks) == 1


def test_admin_starts_candidates_and_tasks_with_their_options(admin_client_, project):
    client = admin_client_
    response = client.post(
        "/admin/labeling/pipelinerun/add/",
        {
            "project": project.pk,
            "stage": "synthesize",
            "llm_model": "big-model",
            "candidates": 4,
            "candidate_models": "alpha, beta",
            "candidate_temperatures": "0.2, 1",
            "self_instruct": 3,
            "price_prompt_per_mtok": "0.5",
            "price_completion_per_mtok": "1.5",
            "limit": 10,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = PipelineRun.objects.get()
    assert (run.params["candidates"], run.params["self_instruct"]) == (4, 3)
    assert run.params["candidate_models"] == ["alpha", "beta"]
    assert run.params["candidate_temperatures"] == [0.2, 1.0]
    assert run.params["llm"]["price_completion_per_mtok"] == 1.5
    response = client.post(
        "/admin/labeling/pipelinerun/add/",
        {"project": project.pk, "stage": "tasks", "kind": "ranking", "gold_share": "0.2"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PipelineRun.objects.get(stage="tasks").params["gold_share"] == 0.2


def test_admin_add_shows_the_service_error(admin_client_, project):
    response = admin_client_.post(
        "/admin/labeling/pipelinerun/add/",
        {"project": project.pk, "stage": "synthesize", "limit": 10},
    )
    assert response.status_code == 200
    assert "Choose rewrites" in response.content.decode()
    assert not PipelineRun.objects.exists()


def test_admin_lists_runs(admin_client_, project):
    PipelineRun.objects.create(project=project, stage="tag")
    response = admin_client_.get("/admin/labeling/pipelinerun/")
    assert response.status_code == 200 and "0 / 0 (0%)" in response.content.decode()


def test_restore_action_on_prompts(admin_client_, project):
    filtered, active = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "hi"}],
                "status": "filtered",
                "filter_reasons": [{"filter": "length", "code": "too_short", "detail": "2"}],
            },
            {"messages": [{"role": "user", "content": "What is the capital of Peru?"}]},
        ],
    )
    response = admin_client_.post(
        "/admin/labeling/prompt/",
        {"action": "restore_filtered", "_selected_action": [filtered.pk, active.pk]},
    )
    assert response.status_code == 302
    filtered.refresh_from_db()
    assert filtered.status == PromptStatus.ACTIVE
    assert filtered.meta["restored"]["by"] == "root"
