"""Candidate answers from a trained adapter: a tiny random Llama with a LoRA adapter saved
through PEFT, generated turn by turn the way the GPU worker does it."""

from __future__ import annotations

import pytest

from evaluation.errors import EvaluationError
from evaluation.models import CandidateAnswer
from evaluation.services import candidates_generate_with_adapter
from evaluation.services.sets import ERROR_ADAPTER_PROJECT

pytestmark = [pytest.mark.training, pytest.mark.slow]


@pytest.fixture(scope="module")
def adapter_folder(tmp_path_factory):
    """(base model folder, LoRA adapter folder), built once for the module."""
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("adapter")
    base = build_tiny_model(root / "base", size="tiny")
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(root / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(root / "adapter")
    return base, root / "adapter"


@pytest.fixture
def adapter(project, owner, adapter_folder):
    from training.services import adapter_create, job_create
    from training.testing import sample_conversations, snapshot_write

    base, folder = adapter_folder
    snapshot = snapshot_write(project=project, train=sample_conversations(), name="sft")
    job = job_create(
        project=project,
        created_by=owner,
        kind="sft",
        base_model=str(base),
        snapshot=snapshot,
        peft_method="lora",
        hyperparameters={"max_steps": 1},
        name="lora",
    )
    return adapter_create(job=job, path=folder)


def test_adapter_answers_every_turn_and_resumes(eval_set, adapter):
    written = candidates_generate_with_adapter(
        eval_set=eval_set, adapter_id=adapter.pk, max_new_tokens=4
    )
    assert written == 6
    answers = CandidateAnswer.objects.filter(model=f"adapter-{adapter.pk}")
    assert answers.count() == 6
    assert all(len(a.turns) == 2 and a.source == f"adapter:{adapter.pk}" for a in answers)
    assert candidates_generate_with_adapter(eval_set=eval_set, adapter_id=adapter.pk) == 0


def test_adapter_from_another_project_is_refused(eval_set, adapter, stranger):
    from labeling.models import Project

    eval_set.project = Project.objects.get(name="Someone else's project")
    with pytest.raises(EvaluationError, match=ERROR_ADAPTER_PROJECT):
        candidates_generate_with_adapter(eval_set=eval_set, adapter_id=adapter.pk)


def test_generation_is_queued_on_the_gpu_queue_through_the_api(
    eval_set, adapter, owner, stranger, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult
    from rest_framework.test import APIClient

    url = f"/api/evaluation/eval-sets/{eval_set.pk}/generate/"
    client = APIClient()
    assert client.post(url, {"adapter": adapter.pk}, format="json").status_code == 401
    client.force_authenticate(stranger)
    assert client.post(url, {"adapter": adapter.pk}, format="json").status_code == 404
    client.force_authenticate(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"adapter": adapter.pk}, format="json")
    assert response.status_code == 202
    task = DBTaskResult.objects.get()
    assert task.queue_name == "gpu"
    assert task.args_kwargs["kwargs"]["adapter_id"] == adapter.pk
    missing = client.post(url, {"adapter": 999999}, format="json")
    assert missing.status_code == 400 and missing.json()["error"] == ERROR_ADAPTER_PROJECT
