from __future__ import annotations

import pytest

from training.services import job_create
from training.testing import sample_conversations, snapshot_write


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random-weight Llama and its tokenizer, built once per test session."""
    pytest.importorskip("transformers")
    from training.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-model"), size="tiny"))


@pytest.fixture
def sft_snapshot(project):
    return snapshot_write(
        project=project,
        train=sample_conversations(repeat=2),
        validation=sample_conversations(),
        name="Sample SFT",
    )


@pytest.fixture
def make_job(owner, project, sft_snapshot):
    def make(*, base_model: str = "/models/any", peft_method: str = "lora", snapshot=None, **hp):
        hyper = {"max_steps": 3, "per_device_train_batch_size": 9, "logging_steps": 1, **hp}
        return job_create(
            project=project,
            created_by=owner,
            kind="sft",
            base_model=base_model,
            snapshot=snapshot or sft_snapshot,
            peft_method=peft_method,
            hyperparameters=hyper,
            name=f"{peft_method} test",
        )

    return make
