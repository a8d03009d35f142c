"""Reward, DPO, PPO, GRPO and RLOO jobs: the PEFT method and base model are related to the
kind (and to the policy and reward adapters) when the config is resolved, so a job that could
only fail in the worker gets a field error before anything is queued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import ConfigError
from training.forms import TrainingJobForm
from training.models import Adapter, TrainingJob
from training.rl_config import (
    ERROR_BASE_POLICY,
    ERROR_METHOD_KIND,
    ERROR_METHOD_POLICY,
    ERROR_POLICY_METHOD,
    ERROR_REWARD_BASE,
)
from training.services import adapter_create, job_create

from .rl_helpers import make_rl_job, preference_snapshot, prompts_snapshot

pytestmark = pytest.mark.django_db

POLICY_BASE = "/models/policy-base"


@pytest.fixture
def adapters(project, owner, sft_snapshot, tmp_path):
    """Make an adapter row of a finished job (no training: these tests stop at the config)."""

    def make(kind="sft", *, method="lora", base=POLICY_BASE):
        snapshot = sft_snapshot if kind == "sft" else preference_snapshot(project)
        job = job_create(
            project=project, created_by=owner, kind=kind, base_model=base, snapshot=snapshot,
            peft_method=method,
        )  # fmt: skip
        return adapter_create(job=job, path=tmp_path)

    return make


def rl_job(project, owner, *, kind, policy, reward, base=POLICY_BASE, method="lora"):
    return make_rl_job(
        project=project, owner=owner, kind=kind, base_model=base,
        snapshot=prompts_snapshot(project), peft_method=method,
        policy_adapter=policy.pk, reward_adapter=reward.pk,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["reward", "dpo"])
@pytest.mark.parametrize("method", ["full", "prompt_tuning"])
def test_reward_and_dpo_refuse_a_method_that_is_not_lora(project, owner, kind, method):
    with pytest.raises(ConfigError) as exc:
        make_rl_job(
            project=project, owner=owner, kind=kind, base_model="/m",
            snapshot=preference_snapshot(project), peft_method=method,
        )  # fmt: skip
    assert exc.value.field == "peft_method"
    label = {"full": "Full fine-tuning", "prompt_tuning": "Prompt tuning"}[method]
    kind_label = {"reward": "Reward model", "dpo": "DPO"}[kind]
    assert str(exc.value) == ERROR_METHOD_KIND.format(kind=kind_label, method=label)
    assert not TrainingJob.objects.filter(kind=kind).exists()


@pytest.mark.parametrize("method", ["lora", "dora", "qlora"])
def test_reward_and_dpo_accept_the_lora_family(project, owner, method):
    for kind in ("reward", "dpo"):
        job = make_rl_job(
            project=project, owner=owner, kind=kind, base_model="/m",
            snapshot=preference_snapshot(project), peft_method=method,
        )  # fmt: skip
        assert job.config["peft"]["method"] == method


@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo"])
def test_policy_jobs_must_train_on_the_policy_adapters_base(project, owner, adapters, kind):
    policy, reward = adapters("sft"), adapters("reward")
    with pytest.raises(ConfigError) as exc:
        rl_job(project, owner, kind=kind, policy=policy, reward=reward, base="/models/other")
    assert exc.value.field == "base_model"
    assert str(exc.value) == ERROR_BASE_POLICY.format(
        pk=policy.pk, adapter_base=POLICY_BASE, kind={"ppo": "PPO"}.get(kind, kind.upper())
    )
    job = rl_job(project, owner, kind=kind, policy=policy, reward=reward)
    assert job.base_model == POLICY_BASE


@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo"])
def test_policy_jobs_method_must_be_one_the_policy_adapter_trains_as(
    project, owner, adapters, kind
):
    lora, dora, reward = adapters("sft"), adapters("sft", method="dora"), adapters("reward")
    with pytest.raises(ConfigError) as exc:
        rl_job(project, owner, kind=kind, policy=dora, reward=reward, method="lora")
    assert exc.value.field == "peft_method"
    assert str(exc.value) == ERROR_METHOD_POLICY.format(
        pk=dora.pk, actual="DoRA", kind={"ppo": "PPO"}.get(kind, kind.upper()), allowed="DoRA",
        method="LoRA",
    )  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        rl_job(project, owner, kind=kind, policy=lora, reward=reward, method="full")
    assert exc.value.field == "peft_method"
    # A LoRA policy keeps training as LoRA, or as QLoRA (4-bit base on a GPU); DoRA as DoRA.
    for policy, method in ((lora, "lora"), (lora, "qlora"), (dora, "dora")):
        rl_job(project, owner, kind=kind, policy=policy, reward=reward, method=method)


def test_a_prompt_tuning_policy_is_refused(project, owner, adapters):
    policy, reward = adapters("sft", method="prompt_tuning"), adapters("reward")
    with pytest.raises(ConfigError) as exc:
        rl_job(project, owner, kind="ppo", policy=policy, reward=reward)
    assert exc.value.field == "policy_adapter"
    assert str(exc.value) == ERROR_POLICY_METHOD.format(
        pk=policy.pk, actual="Prompt tuning", kind="PPO"
    )


def test_ppo_refuses_a_reward_model_on_another_base(project, owner, adapters):
    policy, reward = adapters("sft"), adapters("reward", base="/models/encoder")
    with pytest.raises(ConfigError) as exc:
        rl_job(project, owner, kind="ppo", policy=policy, reward=reward)
    assert exc.value.field == "reward_adapter"
    assert str(exc.value) == ERROR_REWARD_BASE.format(
        pk=reward.pk, reward_base="/models/encoder", policy_base=POLICY_BASE
    )
    # GRPO and RLOO re-tokenize the text for the reward model: another base is fine there.
    for kind in ("grpo", "rloo"):
        assert rl_job(project, owner, kind=kind, policy=policy, reward=reward).pk
    assert not TrainingJob.objects.filter(kind="ppo").exists()


def test_admin_form_puts_the_method_error_on_its_field(project, adapters):
    policy, reward = adapters("sft"), adapters("reward")
    form = TrainingJobForm(
        data={
            "project": project.pk, "name": "ppo", "kind": "ppo", "base_model": "/models/other",
            "snapshot": prompts_snapshot(project).pk, "peft_method": "lora",
            "learning_rate": 1e-4, "num_train_epochs": 1, "max_steps": 2,
            "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
            "max_length": 256, "warmup_ratio": 0, "weight_decay": 0,
            "lr_scheduler_type": "linear", "logging_steps": 1, "eval_steps": 0,
            "save_steps": 50, "seed": 1, "policy_adapter": policy.pk,
            "reward_adapter": reward.pk,
        }
    )  # fmt: skip
    assert not form.is_valid()
    assert form.errors["base_model"] == [
        ERROR_BASE_POLICY.format(pk=policy.pk, adapter_base=POLICY_BASE, kind="PPO")
    ]


def test_adapter_records_the_method_and_base_really_trained(project, owner, adapters, tmp_path):
    """A QLoRA PPO job that ran without quantization (CPU) leaves a LoRA adapter on the
    policy's base, not what the job's fields say."""
    from training.rl_common import policy_method

    policy, reward = adapters("sft"), adapters("reward")
    job = rl_job(project, owner, kind="ppo", policy=policy, reward=reward, method="qlora")
    assert adapter_create(job=job, path=tmp_path).method == "qlora"  # the job's by default
    used = adapter_create(
        job=job, path=tmp_path, method=policy_method(policy, quantized=False),
        base_model=policy.base_model,
    )  # fmt: skip
    assert (used.method, used.base_model) == ("lora", POLICY_BASE)
    assert used.name == f"LoRA · job {job.pk}"
    assert policy_method(policy, quantized=True) == "qlora"
    dora = adapters("sft", method="dora")
    assert policy_method(dora, quantized=False) == "dora"
    assert Adapter.objects.filter(job=job).count() == 2


@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo"])
def test_policy_jobs_record_the_policy_adapters_lora_shape(project, owner, adapters, kind):
    """They keep training the policy adapter: its r, alpha, dropout and targets are what runs,
    not the job form's (which used to be recorded, and ignored)."""
    policy, reward = adapters("sft"), adapters("reward")
    (Path(policy.path) / "adapter_config.json").write_text(
        json.dumps({"r": 8, "lora_alpha": 16, "lora_dropout": 0.0,
                    "target_modules": ["v_proj", "q_proj"], "peft_type": "LORA"})
    )  # fmt: skip
    job = make_rl_job(
        project=project, owner=owner, kind=kind, base_model=POLICY_BASE,
        snapshot=prompts_snapshot(project), policy_adapter=policy.pk, reward_adapter=reward.pk,
    )  # fmt: skip
    peft = job.config["peft"]
    assert (peft["r"], peft["lora_alpha"], peft["lora_dropout"]) == (8, 16, 0.0)
    assert peft["target_modules"] == ["q_proj", "v_proj"]
    assert peft["lora_from"] == f"policy adapter {policy.pk}"
    assert job.peft_config["r"] == 8
