"""The shared trainer plumbing: TRL arguments from a job's config, and which checkpoint a retry
resumes from."""

import json

from training.config import config_resolve
from training.models import JobKind, PeftMethod, TrainingJob
from training.trl_args import last_complete_checkpoint, trl_common_args

CPU = {"cuda": False, "gpus": 0, "device": "cpu", "bf16": False}
GPU = {"cuda": True, "gpus": 1, "device": "H100", "bf16": True}


def _job(sft_snapshot, method=PeftMethod.LORA, **hyper):
    config = config_resolve(
        kind=JobKind.SFT,
        base_model="tiny",
        snapshot=sft_snapshot,
        peft_method=method,
        peft_values={},
        hyperparameters=hyper,
    )
    return TrainingJob(config=config, output_dir="/tmp/job-1", peft_method=method)


def _checkpoint(root, step, *, state="{}"):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"x")
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    return folder


def test_newest_complete_checkpoint_wins_over_a_half_written_one(tmp_path):
    _checkpoint(tmp_path, 3)
    _checkpoint(tmp_path, 6, state=json.dumps({"global_step": 6}))
    _checkpoint(tmp_path, 9, state=None)  # killed before the trainer state was written
    _checkpoint(tmp_path, 12, state='{"global_st')  # killed while writing it
    (tmp_path / "checkpoint-last").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-6")


def test_no_checkpoint_folder_means_a_fresh_start(tmp_path):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 3, state=None)
    assert last_complete_checkpoint(tmp_path) is None


def test_common_args_follow_the_job_and_the_hardware(sft_snapshot):
    job = _job(sft_snapshot, learning_rate=1e-3, max_steps=7, save_steps=5, eval_steps=0)
    cpu = trl_common_args(job, hardware=CPU, has_eval=True)
    assert cpu["output_dir"] == "/tmp/job-1/checkpoints"
    assert (cpu["learning_rate"], cpu["max_steps"], cpu["save_steps"]) == (1e-3, 7, 5)
    assert cpu["use_cpu"] and not cpu["bf16"] and "optim" not in cpu
    assert cpu["eval_strategy"] == "steps" and cpu["eval_steps"] == cpu["logging_steps"]
    no_eval = trl_common_args(job, hardware=CPU)
    assert no_eval["eval_strategy"] == "no" and "eval_steps" not in no_eval
    gpu = trl_common_args(_job(sft_snapshot, PeftMethod.QLORA), hardware=GPU)
    assert gpu["bf16"] and not gpu["use_cpu"] and gpu["optim"] == "paged_adamw_8bit"
    assert "optim" not in trl_common_args(_job(sft_snapshot), hardware=GPU)
