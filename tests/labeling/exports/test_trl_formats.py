"""The formats are proven, not assumed: each kind of snapshot is loaded with
`datasets.load_from_disk` and trained for two steps with the matching TRL trainer on a tiny
model built here (random weights, tokenizer trained on the fly)."""

from pathlib import Path

import pytest

from labeling.exports import snapshot_build, snapshot_create
from tests.labeling.exports.conftest import answer, tasks_for
from tests.labeling.factories import answer_ids

pytestmark = [pytest.mark.django_db, pytest.mark.training]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from training.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def load(project, recipe):
    from datasets import load_from_disk

    snap = snapshot_create(project=project, name=recipe["kind"], recipe=recipe)
    snap = snapshot_build(snapshot=snap)
    assert snap.status == "ready", snap.error
    return load_from_disk(str(Path(snap.path) / "hf"))


def args(config_class, tmp_path, **extra):
    return config_class(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        **extra,
    )


def trained(trainer) -> tuple[list[float], bool]:
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = any(not (after[n].detach() == before[n]).all() for n in before)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return losses, changed


@pytest.fixture
def rankings(project, coders):
    tasks = tasks_for(project, kind="ranking", task_types=["qa", "code"] * 2, answers=3)
    for task in tasks:
        a, b, c = answer_ids(task)
        answer(project, coders[0], task, {"ranking": [c, a, b]})
    return tasks


def test_sft_snapshot_trains_with_sft_trainer(project, coders, tiny_model, tmp_path):
    from trl import SFTConfig, SFTTrainer

    tasks = tasks_for(project, kind="demonstration", task_types=["qa", "code"] * 2, answers=0)
    for i, task in enumerate(tasks):
        answer(project, coders[0], task, {"text": f"The answer is {i}."})
    data = load(project, {"kind": "sft", "validation_fraction": 0})
    assert data["train"].num_rows == 4 and "messages" in data["train"].column_names
    trainer = SFTTrainer(
        model=tiny_model,
        args=args(SFTConfig, tmp_path, max_length=64, assistant_only_loss=True),
        train_dataset=data["train"],
    )
    losses, changed = trained(trainer)
    assert len(losses) == 2 and changed


def test_preference_snapshot_trains_a_reward_model_with_margins(
    project, rankings, tiny_model, tmp_path
):
    from trl import RewardConfig, RewardTrainer

    data = load(project, {"kind": "preference", "validation_fraction": 0})
    train = data["train"]
    assert train.num_rows == 12 and set(train["margin"]) == {1.0, 2.0}
    trainer = RewardTrainer(
        model=tiny_model, args=args(RewardConfig, tmp_path, max_length=64), train_dataset=train
    )
    losses, changed = trained(trainer)
    assert len(losses) == 2 and changed


def test_preference_snapshot_trains_with_dpo_trainer(project, rankings, tiny_model, tmp_path):
    from trl import DPOConfig, DPOTrainer

    data = load(
        project, {"kind": "preference", "validation_fraction": 0, "aggregation": "majority"}
    )
    trainer = DPOTrainer(
        model=tiny_model, args=args(DPOConfig, tmp_path, max_length=64), train_dataset=data["train"]
    )
    losses, changed = trained(trainer)
    assert len(losses) == 2 and changed


def test_prompts_snapshot_is_trl_prompt_only(project, rankings):
    from trl.data_utils import is_conversational

    data = load(project, {"kind": "prompts", "validation_fraction": 0})
    row = data["train"][0]
    assert is_conversational({"prompt": row["prompt"]}) and row["prompt"][-1]["role"] == "user"
