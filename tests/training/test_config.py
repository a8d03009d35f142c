"""Config validation per kind and method: every bad value is refused on its own field, before
anything is queued."""

import pytest

from training.config import (
    ERROR_ALPHA,
    ERROR_INIT_TEXT,
    ERROR_LEARNING_RATE,
    ERROR_RANK,
    ERROR_TARGET_MODULES,
    ConfigError,
    config_resolve,
)
from training.models import TrainingJob
from training.testing import snapshot_write

pytestmark = pytest.mark.django_db


def resolve(snapshot, *, method="lora", peft=None, hp=None, base_model="/models/any", kind="sft"):
    return config_resolve(
        kind=kind,
        base_model=base_model,
        snapshot=snapshot,
        peft_method=method,
        peft_values=peft or {},
        hyperparameters=hp or {},
    )


@pytest.mark.parametrize("lr", [0, -1e-4, 0.5, "fast"])
def test_bad_learning_rate_is_refused_on_its_field(sft_snapshot, lr):
    with pytest.raises(ConfigError) as exc:
        resolve(sft_snapshot, hp={"learning_rate": lr})
    assert exc.value.field == "learning_rate"
    assert str(exc.value) == ERROR_LEARNING_RATE


@pytest.mark.parametrize("r", [0, 2000, 2.5, "x"])
def test_bad_lora_rank_is_refused(sft_snapshot, r):
    with pytest.raises(ConfigError) as exc:
        resolve(sft_snapshot, method="dora", peft={"r": r})
    assert (exc.value.field, str(exc.value)) == ("r", ERROR_RANK)


def test_bad_alpha_and_target_modules_are_refused(sft_snapshot):
    with pytest.raises(ConfigError, match=ERROR_ALPHA):
        resolve(sft_snapshot, peft={"lora_alpha": 0})
    with pytest.raises(ConfigError) as exc:
        resolve(sft_snapshot, method="qlora", peft={"target_modules": "q_proj; drop table"})
    assert (exc.value.field, str(exc.value)) == ("target_modules", ERROR_TARGET_MODULES)


def test_target_modules_are_checked_against_a_local_model(sft_snapshot, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ConfigError) as exc:
        resolve(sft_snapshot, base_model=str(tmp_path), peft={"target_modules": "q_proj, qkv"})
    assert exc.value.field == "target_modules"
    assert "no module named qkv" in str(exc.value)
    config = resolve(
        sft_snapshot, base_model=str(tmp_path), peft={"target_modules": "q_proj,v_proj"}
    )
    assert config["peft"]["target_modules"] == ["q_proj", "v_proj"]


def test_snapshot_of_the_wrong_kind_is_refused(project):
    prefs = snapshot_write(project=project, train=[{"task_type": "qa"}], kind="preference")
    with pytest.raises(ConfigError) as exc:
        resolve(prefs)
    assert exc.value.field == "snapshot"
    assert "needs a sft snapshot; this one is preference" in str(exc.value)


def test_prompt_tuning_from_text_needs_the_text(sft_snapshot):
    with pytest.raises(ConfigError, match=ERROR_INIT_TEXT):
        resolve(sft_snapshot, method="prompt_tuning", peft={"init": "text"})
    config = resolve(
        sft_snapshot, method="prompt_tuning", peft={"init": "text", "init_text": "Answer well."}
    )
    assert config["peft"] == {
        "method": "prompt_tuning",
        "num_virtual_tokens": 8,
        "init": "text",
        "init_text": "Answer well.",
    }


def test_resolved_config_is_complete_and_dora_sets_use_dora(sft_snapshot):
    config = resolve(sft_snapshot, method="dora", hp={"learning_rate": "1e-4", "max_steps": 7})
    assert config["peft"]["use_dora"] is True
    assert config["training"]["learning_rate"] == 1e-4
    assert config["training"]["max_steps"] == 7
    assert config["snapshot"] == {
        "id": sft_snapshot.pk,
        "path": sft_snapshot.path,
        "hash": sft_snapshot.content_hash,
    }
    assert TrainingJob.objects.count() == 0  # resolving queues nothing


def test_admin_add_form_shows_field_errors_and_creates_nothing(
    client, owner, project, sft_snapshot
):
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    data = {
        "project": project.pk,
        "name": "bad",
        "kind": "sft",
        "base_model": "/models/x",
        "snapshot": sft_snapshot.pk,
        "peft_method": "lora",
        "learning_rate": "3",
        "num_train_epochs": 1,
        "max_steps": -1,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 512,
        "warmup_ratio": 0,
        "weight_decay": 0,
        "lr_scheduler_type": "linear",
        "logging_steps": 1,
        "eval_steps": 0,
        "save_steps": 50,
        "seed": 1,
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "num_virtual_tokens": 8,
        "init": "random",
    }
    response = client.post("/admin/training/trainingjob/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["learning_rate"] == [ERROR_LEARNING_RATE]
    assert TrainingJob.objects.count() == 0

    response = client.post(
        "/admin/training/trainingjob/add/", {**data, "learning_rate": "2e-4", "r": 0}
    )
    assert response.context["adminform"].form.errors["r"] == [ERROR_RANK]

    response = client.post("/admin/training/trainingjob/add/", {**data, "learning_rate": "2e-4"})
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert job.status == "draft"
    assert job.created_by == owner
    assert job.config["training"]["learning_rate"] == 2e-4
    assert job.config["training"]["max_length"] == 512
