"""The training API: the same services and config validation as the admin, JSON errors a person
can act on, keyset pages, metrics for polling, adapters with lineage, and access for every
role (researchers of the job's project only)."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from labeling.models import Project
from training.api import ERROR_SNAPSHOT
from training.config import ERROR_LEARNING_RATE
from training.generate_config import ERROR_K
from training.models import Adapter, JobStatus, TrainingJob
from training.rl_config import ERROR_ADAPTER_ENSEMBLE
from training.services import (
    adapter_create,
    job_claim,
    job_create,
    job_finish,
    job_launch,
    metric_points_record_steps,
)
from training.services.adapters import ERROR_MERGE_METHOD, ERROR_MERGED
from training.testing import snapshot_write

from .rl_helpers import preference_snapshot, prompt_rows

pytestmark = pytest.mark.django_db

JOBS = "/api/training/jobs/"
ADAPTERS = "/api/training/adapters/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api(owner):
    return client_for(owner)


def body(project, snapshot, **values):
    return {
        "project": project.pk,
        "name": "api job",
        "kind": "sft",
        "base_model": "/models/any",
        "snapshot": snapshot.pk,
        "peft_method": "lora",
        "hyperparameters": {"max_steps": 5, "learning_rate": 1e-4},
        **values,
    }


# -------------------------------------------------------------------------- jobs


def test_create_resolves_the_config_like_the_admin_form(api, owner, project, sft_snapshot):
    response = api.post(JOBS, body(project, sft_snapshot), format="json")
    assert response.status_code == 201, response.json()
    job = TrainingJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.DRAFT and job.created_by == owner
    assert job.config["training"]["learning_rate"] == 1e-4
    assert job.config["training"]["max_steps"] == 5
    assert response.json()["config"] == job.config
    assert response.json()["page"] == f"/training/jobs/{job.pk}/"


def test_bad_config_is_a_400_naming_the_field_and_creates_nothing(api, project, sft_snapshot):
    response = api.post(
        JOBS, body(project, sft_snapshot, hyperparameters={"learning_rate": 3}), format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "Some fields are not valid.",
        "fields": {"learning_rate": [ERROR_LEARNING_RATE]},
    }
    wrong_kind = api.post(JOBS, body(project, sft_snapshot, kind="dpo"), format="json")
    assert wrong_kind.status_code == 400
    assert wrong_kind.json()["fields"]["snapshot"] == [
        "A DPO job needs a preference snapshot; this one is sft."
    ]
    other = Project.objects.create(name="Other", slug="other")
    foreign = snapshot_write(project=other, train=prompt_rows(), kind="prompts")
    missing = api.post(JOBS, body(project, foreign), format="json")
    assert missing.status_code == 400
    assert missing.json()["fields"] == {"snapshot": [ERROR_SNAPSHOT]}
    assert api.post(JOBS, {"kind": "nope"}, format="json").status_code == 400
    assert not TrainingJob.objects.exists()


def test_generate_job_through_the_api(api, owner, project, sft_snapshot, tmp_path):
    policy = job_create(
        project=project, created_by=owner, kind="sft", base_model="/models/any",
        snapshot=sft_snapshot, peft_method="lora",
    )  # fmt: skip
    adapter = adapter_create(job=policy, path=tmp_path)
    prompts = snapshot_write(project=project, train=prompt_rows(), kind="prompts", name="P")
    settings = {"adapters": [adapter.pk], "include_base": True, "k": 40}
    response = api.post(
        JOBS, body(project, prompts, kind="generate", hyperparameters=settings), format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"k": [ERROR_K]}
    settings["k"] = 3
    response = api.post(
        JOBS, body(project, prompts, kind="generate", hyperparameters=settings), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["generate"]["adapters"] == [adapter.pk]
    assert response.json()["config"]["generate"]["k"] == 3


def test_launch_cancel_retry_and_clone_call_the_services(
    api, owner, make_job, django_capture_on_commit_callbacks
):
    job = make_job()
    with django_capture_on_commit_callbacks(execute=True):
        launched = api.post(f"{JOBS}{job.pk}/launch/")
    assert launched.status_code == 200 and launched.json()["status"] == "queued"
    task = DBTaskResult.objects.get()
    assert task.queue_name == "gpu" and task.args_kwargs["kwargs"] == {"job_id": job.pk}

    again = api.post(f"{JOBS}{job.pk}/launch/")
    assert again.status_code == 400
    assert again.json() == {"error": "A queued job cannot be launched."}

    cancelled = api.post(f"{JOBS}{job.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"{JOBS}{job.pk}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert DBTaskResult.objects.count() == 2

    clone = api.post(f"{JOBS}{job.pk}/clone/")
    assert clone.status_code == 201
    copy = TrainingJob.objects.get(pk=clone.json()["id"])
    assert copy.parent_id == job.pk and copy.status == JobStatus.DRAFT
    assert copy.config["training"] == job.config["training"]
    assert copy.created_by == owner


def test_clone_of_a_ppo_job_keeps_its_adapters(api, owner, project, sft_snapshot, tmp_path):
    def adapter(kind, snapshot):
        job = job_create(
            project=project, created_by=owner, kind=kind, base_model="/models/any",
            snapshot=snapshot, peft_method="lora",
        )  # fmt: skip
        return adapter_create(job=job, path=tmp_path)

    policy = adapter("sft", sft_snapshot)
    reward = adapter("reward", preference_snapshot(project))
    prompts = snapshot_write(project=project, train=prompt_rows(), kind="prompts", name="P")
    ppo = job_create(
        project=project, created_by=owner, kind="ppo", base_model="/models/any",
        snapshot=prompts, peft_method="lora",
        hyperparameters={"policy_adapter": policy.pk, "reward_adapter": reward.pk, "beta": 1},
    )  # fmt: skip
    response = api.post(f"{JOBS}{ppo.pk}/clone/")
    assert response.status_code == 201, response.json()
    clone = TrainingJob.objects.get(pk=response.json()["id"])
    assert clone.config["rl"] == ppo.config["rl"]
    assert clone.config["rl"]["policy_adapter"] == policy.pk


def test_list_filters_and_keyset_pages_newest_first(
    api, owner, project, make_job, django_assert_max_num_queries
):
    jobs = [make_job() for _ in range(3)]
    job_launch(job=jobs[1])
    listed = api.get(JOBS).json()
    assert [j["id"] for j in listed["results"]] == [j.pk for j in reversed(jobs)]

    queued = api.get(JOBS, {"status": "queued"}).json()["results"]
    assert [j["id"] for j in queued] == [jobs[1].pk]
    assert api.get(JOBS, {"kind": "generate"}).json()["results"] == []
    assert len(api.get(JOBS, {"project": project.pk, "kind": "sft"}).json()["results"]) == 3
    bad = api.get(JOBS, {"status": "sleeping"})
    assert bad.status_code == 400 and "status" in bad.json()["fields"]

    first = api.get(JOBS, {"page_size": 2}).json()
    assert [j["id"] for j in first["results"]] == [jobs[2].pk, jobs[1].pk]
    second = api.get(first["next"]).json()
    assert [j["id"] for j in second["results"]] == [jobs[0].pk]
    assert second["next"] is None

    adapter_create(job=jobs[0], path="/tmp")
    for _ in range(3):
        make_job()
    # Session, user, memberships, the page of jobs, their adapters: not one query per job.
    with django_assert_max_num_queries(6):
        page = api.get(JOBS).json()["results"]
    assert len(page) == 6
    assert next(j for j in page if j["id"] == jobs[0].pk)["adapters"] != []


def test_metrics_by_name_since_a_step_for_polling(api, make_job):
    job = make_job()
    metric_points_record_steps(
        job_id=job.pk,
        steps=[(step, {"loss": 3.0 - step / 10, "lr": 1e-4}) for step in range(1, 6)],
    )
    everything = api.get(f"{JOBS}{job.pk}/metrics/").json()
    assert set(everything["series"]) == {"loss", "lr"}
    assert [p["step"] for p in everything["series"]["loss"]] == [1, 2, 3, 4, 5]
    assert everything["status"] == "draft"

    newer = api.get(f"{JOBS}{job.pk}/metrics/", {"name": "loss", "since_step": 3}).json()
    assert newer["series"] == {"loss": [{"step": 4, "value": 2.6}, {"step": 5, "value": 2.5}]}
    bad = api.get(f"{JOBS}{job.pk}/metrics/", {"since_step": -1})
    assert bad.status_code == 400 and "since_step" in bad.json()["fields"]


def test_detail_has_progress_and_data_report(api, make_job):
    job = make_job()
    job_launch(job=job)
    job_claim(job_id=job.pk)
    job_finish(job_id=job.pk, status=JobStatus.FAILED, error="CUDA out of memory")
    data = api.get(f"{JOBS}{job.pk}/").json()
    assert data["status"] == "failed" and data["error"] == "CUDA out of memory"
    assert data["attempts"] == 1 and data["created_by"] == "owner"


# -------------------------------------------------------------------------- access


def test_only_researchers_of_the_project_reach_its_jobs(
    make_job, project, sft_snapshot, labeler, reviewer, stranger
):
    job = make_job()
    anonymous = APIClient()
    assert anonymous.get(JOBS).status_code in (401, 403)
    assert anonymous.post(f"{JOBS}{job.pk}/launch/").status_code in (401, 403)

    outsider = client_for(stranger)
    assert outsider.get(JOBS).json()["results"] == []
    for response in (
        outsider.get(f"{JOBS}{job.pk}/"),
        outsider.get(f"{JOBS}{job.pk}/metrics/"),
        outsider.post(f"{JOBS}{job.pk}/launch/"),
        outsider.post(f"{JOBS}{job.pk}/clone/"),
    ):
        assert response.status_code == 404
        assert "not a member" in response.json()["error"]
    assert outsider.post(JOBS, body(project, sft_snapshot), format="json").status_code == 404

    for user in (labeler, reviewer):
        member = client_for(user)
        assert member.get(JOBS).json()["results"] == []
        assert member.get(f"{JOBS}{job.pk}/").status_code == 403
        assert member.post(f"{JOBS}{job.pk}/cancel/").status_code == 403
        assert member.post(JOBS, body(project, sft_snapshot), format="json").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.DRAFT
    assert TrainingJob.objects.count() == 1


# -------------------------------------------------------------------------- adapters


@pytest.fixture
def adapters(owner, make_job, tmp_path):
    """A LoRA adapter whose job trained on the SFT snapshot, and a prompt-tuning one."""
    lora = adapter_create(job=make_job(), path=tmp_path, name="policy v1")
    prompt = adapter_create(job=make_job(peft_method="prompt_tuning"), path=tmp_path)
    return lora, prompt


def test_adapters_list_and_detail_with_owner_and_lineage(api, owner, project, adapters):
    lora, prompt = adapters
    listed = api.get(ADAPTERS).json()["results"]
    assert [a["id"] for a in listed] == [prompt.pk, lora.pk]
    assert listed[1]["owner"] == {"user": "owner", "project": None}
    assert listed[1]["project"] == project.pk and listed[1]["job_kind"] == "sft"
    assert api.get(ADAPTERS, {"project": project.pk + 1000}).json()["results"] == []

    detail = api.get(f"{ADAPTERS}{lora.pk}/").json()
    assert detail["name"] == "policy v1" and detail["method"] == "lora"
    assert [s["role"] for s in detail["lineage"]] == ["base", "this job"]
    assert detail["lineage"][1]["job"] == lora.job_id
    assert detail["lineage"][1]["snapshot_name"] == "Sample SFT"


def test_merge_queues_lora_and_refuses_prompt_tuning(
    api, adapters, django_capture_on_commit_callbacks
):
    lora, prompt = adapters
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{ADAPTERS}{lora.pk}/merge/")
    assert response.status_code == 202
    task = DBTaskResult.objects.get()
    assert task.queue_name == "gpu" and task.args_kwargs["kwargs"] == {"adapter_id": lora.pk}

    refused = api.post(f"{ADAPTERS}{prompt.pk}/merge/")
    assert refused.status_code == 400
    assert refused.json() == {"error": ERROR_MERGE_METHOD.format(method="Prompt tuning")}
    assert DBTaskResult.objects.count() == 1


def test_a_merged_adapter_is_not_merged_again(api, adapters):
    lora, _ = adapters
    Adapter.objects.filter(pk=lora.pk).update(merged_path="/artifacts/1/adapter-merged")
    refused = api.post(f"{ADAPTERS}{lora.pk}/merge/")
    assert refused.status_code == 400
    assert refused.json() == {"error": ERROR_MERGED.format(path="/artifacts/1/adapter-merged")}
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize("value", ["abc", [1], {"id": 1}])
def test_an_adapter_id_that_is_not_a_number_is_a_field_error(api, project, value):
    prompts = snapshot_write(project=project, train=prompt_rows(), kind="prompts", name="P")
    response = api.post(
        JOBS,
        body(
            project,
            prompts,
            kind="ppo",
            hyperparameters={"policy_adapter": value, "reward_adapter": 1},
        ),
        format="json",
    )
    assert response.status_code == 400
    assert "policy_adapter" in response.json()["fields"]
    assert not TrainingJob.objects.exists()


def test_a_prompt_ensemble_cannot_be_the_policy_of_an_rl_job(
    api, owner, project, make_job, tmp_path
):
    ensemble = make_job(peft_method="prompt_tuning")
    ensemble.config["peft"]["ensemble_size"] = 2
    ensemble.save(update_fields=["config"])
    policy = adapter_create(job=ensemble, path=tmp_path)
    reward_job = job_create(
        project=project, created_by=owner, kind="reward", base_model="/models/any",
        snapshot=preference_snapshot(project), peft_method="lora",
    )  # fmt: skip
    reward = adapter_create(job=reward_job, path=tmp_path)
    prompts = snapshot_write(project=project, train=prompt_rows(), kind="prompts", name="P")
    response = api.post(
        JOBS,
        body(
            project,
            prompts,
            kind="grpo",
            hyperparameters={"policy_adapter": policy.pk, "reward_adapter": reward.pk},
        ),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["policy_adapter"] == [
        ERROR_ADAPTER_ENSEMBLE.format(pk=policy.pk, field="policy_adapter")
    ]


def test_only_researchers_of_the_project_reach_its_adapters(adapters, labeler, stranger):
    lora, _ = adapters
    outsider = client_for(stranger)
    assert outsider.get(ADAPTERS).json()["results"] == []
    assert outsider.get(f"{ADAPTERS}{lora.pk}/").status_code == 404
    assert outsider.post(f"{ADAPTERS}{lora.pk}/merge/").status_code == 404
    member = client_for(labeler)
    assert member.get(f"{ADAPTERS}{lora.pk}/").status_code == 403
    assert member.post(f"{ADAPTERS}{lora.pk}/merge/").status_code == 403
    assert not DBTaskResult.objects.exists()


def test_schema_lists_the_training_endpoints(client, owner):
    client.force_login(owner)
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/training/jobs/",
        "/api/training/jobs/{id}/launch/",
        "/api/training/jobs/{id}/metrics/",
        "/api/training/adapters/{id}/merge/",
    ):
        assert path in schema, path
