"""Real PPO runs on the tiny model: an SFT policy, a reward model trained to prefer a keyword,
and Flywheel's own PPO against it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.config import ConfigError
from training.models import Adapter, JobStatus, TrainingJob
from training.selectors import metric_series
from training.services import job_create
from training.testing import sample_conversations, snapshot_write

from .rl_helpers import KEYWORD, make_rl_job, preference_snapshot, prompts_snapshot, run

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chain(project, owner, tiny_model):
    """(SFT adapter, reward adapter) trained on the tiny model."""
    # Half the SFT answers end with the keyword: the policy sometimes says it, and PPO
    # against a reward model that prefers it should make it say it more.
    rows = sample_conversations(repeat=2)
    for row in rows[::2]:
        row["messages"][-1]["content"] += f" {KEYWORD}"
    sft_snapshot = snapshot_write(project=project, train=rows, name="SFT")
    sft = job_create(
        project=project, created_by=owner, kind="sft", base_model=tiny_model,
        snapshot=sft_snapshot, peft_method="lora",
        peft_config={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        hyperparameters={"max_steps": 30, "per_device_train_batch_size": 9,
                         "learning_rate": 1e-2, "logging_steps": 10},
    )  # fmt: skip
    sft = run(sft)
    reward = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=tiny_model,
        snapshot=preference_snapshot(project), max_steps=10, learning_rate=5e-3,
    )  # fmt: skip
    reward = run(reward)
    return Adapter.objects.get(job=sft), Adapter.objects.get(job=reward)


def ppo_job(project, owner, tiny_model, chain, **hp):
    policy, reward = chain
    values = {
        "policy_adapter": policy.pk, "reward_adapter": reward.pk, "max_steps": 6,
        "per_device_train_batch_size": 9, "mini_batch_size": 9, "num_ppo_epochs": 2,
        "response_length": 24, "learning_rate": 3e-3, "kl_coef": 0.01, "temperature": 0.05,
        "sample_every": 2, "save_steps": 3, **hp,
    }  # fmt: skip
    return make_rl_job(
        project=project, owner=owner, kind="ppo", base_model=tiny_model,
        snapshot=prompts_snapshot(project), **values,
    )  # fmt: skip


def test_ppo_mean_reward_rises_on_a_toy_reward(client, project, owner, tiny_model, chain):
    job = run(
        ppo_job(
            project,
            owner,
            tiny_model,
            chain,
            max_steps=10,
            learning_rate=1e-2,
            num_ppo_epochs=4,
            missing_eos_penalty=0,
            kl_coef=0.001,
            # QLoRA loads the bases in 4-bit only on a GPU: on the CPU the policy adapter is
            # trained as plain LoRA, and the adapter says so.
            peft_method="qlora",
        )
    )
    assert job.status == JobStatus.SUCCEEDED
    series = metric_series(job=job)
    for name in (
        "reward", "kl", "ppo/entropy", "ppo/policy_loss", "ppo/value_loss", "ppo/clipfrac",
        "ppo/vf_clipfrac", "ppo/approx_kl", "time/generation", "time/scoring",
    ):  # fmt: skip
        assert len(series[name]) == 10, name
    rewards = [v for _, v in series["reward"]]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3
    assert job.data_report["samples"] and job.data_report["samples"][0]["step"] == 2
    adapter = Adapter.objects.get(job=job)
    assert adapter.base_model == tiny_model
    quantized = job.config["hardware"]["cuda"]  # 4-bit on a GPU, full precision on the CPU
    assert adapter.method == ("qlora" if quantized else "lora")
    assert job.config["quantization"] == ("nf4 4-bit" if quantized else "none")
    assert job.data_report["prompts"] == {"train": 9}
    client.force_login(owner)
    page = client.get(reverse("training:job-detail", args=[job.pk]))
    assert page.status_code == 200 and "Lineage" in page.content.decode()


def test_ppo_cancel_then_resume_continues_the_count(project, owner, tiny_model, chain):
    from training.services import job_cancel, job_retry

    job = ppo_job(project, owner, tiny_model, chain, max_steps=4, save_steps=100)
    stop_at = {"step": 2}

    def cancel_at_two(step, metrics):
        if step == stop_at["step"]:
            job_cancel(job=TrainingJob.objects.get(pk=job.pk))

    from training.run import trainer_for
    from training.services import job_launch
    from training.sft import run_job

    job_launch(job=job)
    assert run_job(job_id=job.pk, callbacks=[cancel_at_two], train=trainer_for("ppo")) == 0
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.step == 2
    assert not Adapter.objects.filter(job=job).exists()
    job_retry(job=TrainingJob.objects.get(pk=job.pk))
    assert run_job(job_id=job.pk, train=trainer_for("ppo")) == 0
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.resumed_from_step == 2
    assert [s for s, _ in metric_series(job=job)["reward"]] == [1, 2, 3, 4]


def test_ppo_needs_an_sft_policy_and_a_reward_adapter(project, owner, tiny_model, chain):
    _policy, reward = chain
    with pytest.raises(ConfigError) as exc:
        ppo_job(project, owner, tiny_model, chain, policy_adapter=reward.pk)
    assert exc.value.field == "policy_adapter"
    with pytest.raises(ConfigError) as exc:
        ppo_job(project, owner, tiny_model, chain, reward_adapter=None)
    assert exc.value.field == "reward_adapter"
