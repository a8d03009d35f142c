"""Real reward-model runs of a few steps on tiny models built in the session."""

from __future__ import annotations

import pytest

from training.config import ConfigError
from training.models import Adapter, JobStatus, MetricPoint

from .rl_helpers import make_rl_job, preference_snapshot, run

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def test_reward_model_learns_a_separable_preference(project, owner, tiny_model):
    snapshot = preference_snapshot(project)
    job = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=tiny_model, snapshot=snapshot,
        max_steps=12, learning_rate=5e-3,
    )  # fmt: skip
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED
    evaluation = job.data_report["reward_eval"]
    assert evaluation["accuracy"] > 0.5
    assert evaluation["margin"] > 0
    assert set(evaluation["per_task_type"]) == {"qa", "math", "creative"}
    assert evaluation["distribution"]["chosen_mean"] > evaluation["distribution"]["rejected_mean"]
    names = set(MetricPoint.objects.filter(job=job).values_list("name", flat=True))
    assert {"loss", "eval/pairwise_accuracy", "eval/pairwise_accuracy/qa", "accuracy"} <= names
    adapter = Adapter.objects.get(job=job)
    assert adapter.owner_user == owner


def test_qlora_reward_model_trains_on_a_4bit_base_without_bf16(project, owner, tiny_model):
    """On a CPU host the base is 4-bit but computes in float32, while TRL keeps the trained
    score head in bf16: the head must still take the hidden states (it raised a dtype error)."""
    job = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=tiny_model,
        snapshot=preference_snapshot(project), max_steps=3, learning_rate=5e-3,
        peft_method="qlora",
    )  # fmt: skip
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.config["quantization"] == "nf4 4-bit"
    assert Adapter.objects.get(job=job).method == "qlora"


def test_long_pairs_are_reported_per_task_type_and_truncated_on_request(project, owner, tiny_model):
    snapshot = preference_snapshot(project)
    drop = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=tiny_model, snapshot=snapshot,
        max_steps=1, max_length=22,
    )  # fmt: skip
    drop = run(drop)
    before = drop.data_report["before"]["train"]
    assert sum(c["dropped"] for c in before.values()) > 0
    assert all(c["truncated"] == 0 for c in before.values())
    assert before["creative"]["dropped"] == before["creative"]["too_long"]

    keep = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=tiny_model, snapshot=snapshot,
        max_steps=1, max_length=22, long_pairs="truncate",
    )  # fmt: skip
    keep = run(keep)
    after = keep.data_report["before"]["train"]
    assert all(c["dropped"] == 0 for c in after.values())
    assert sum(c["truncated"] for c in after.values()) == sum(c["dropped"] for c in before.values())


def test_encoder_reward_model_without_eos_or_chat_template(project, owner, tmp_path):
    from training.tiny_encoder import build_tiny_encoder

    encoder = str(build_tiny_encoder(tmp_path / "bert"))
    snapshot = preference_snapshot(project, margin=0.5)
    job = make_rl_job(
        project=project, owner=owner, kind="reward", base_model=encoder, snapshot=snapshot,
        max_steps=3,
    )  # fmt: skip
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.data_report["reward_eval"]["per_task_type"]


def test_reward_settings_are_validated(project, owner):
    snapshot = preference_snapshot(project)
    with pytest.raises(ConfigError) as exc:
        make_rl_job(
            project=project, owner=owner, kind="reward", base_model="/m", snapshot=snapshot,
            long_pairs="shorten",
        )  # fmt: skip
    assert exc.value.field == "long_pairs"
