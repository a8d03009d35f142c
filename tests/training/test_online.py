"""GRPO (and RLOO) runs of a few steps: TRL's online trainers with the reward model as the
reward function."""

from __future__ import annotations

import pytest

from training.models import Adapter, JobStatus
from training.selectors import metric_series

from .rl_helpers import make_rl_job, prompts_snapshot, run
from .test_ppo import chain  # noqa: F401  (the chain fixture)

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_online_trainer_runs_with_the_reward_model(
    project,
    owner,
    tiny_model,
    chain,  # noqa: F811
    kind,
):
    policy, reward = chain
    job = make_rl_job(
        project=project, owner=owner, kind=kind, base_model=tiny_model,
        snapshot=prompts_snapshot(project), policy_adapter=policy.pk, reward_adapter=reward.pk,
        max_steps=2, per_device_train_batch_size=4, num_generations=4, response_length=8,
        learning_rate=1e-3,
    )  # fmt: skip
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED
    series = metric_series(job=job)
    assert len(series["reward"]) == 2
    assert "kl" in series
    adapter = Adapter.objects.get(job=job)
    assert (adapter.method, adapter.base_model) == ("lora", policy.base_model)
