"""The TRL/transformers arguments every Flywheel trainer shares, built from a job's resolved
config in one place: SFT, reward, DPO, GRPO and RLOO add only what is theirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import PeftMethod, TrainingJob


def trl_common_args(
    job: TrainingJob, *, hardware: dict[str, Any], has_eval: bool = False
) -> dict[str, Any]:
    """Keyword arguments for any TRL `*Config` (a `TrainingArguments` subclass).

    Checkpoints go under the job's output folder (retry resumes from the newest); bf16 only
    where the hardware has it, the CPU otherwise; no tqdm, no outside reporting; the paged 8-bit
    optimizer for QLoRA on CUDA only (paging needs CUDA unified memory)."""
    tr = job.config["training"]
    args: dict[str, Any] = {
        "output_dir": str(Path(job.output_dir) / "checkpoints"),
        "learning_rate": tr["learning_rate"],
        "num_train_epochs": tr["num_train_epochs"],
        "max_steps": tr["max_steps"],
        "per_device_train_batch_size": tr["per_device_train_batch_size"],
        "gradient_accumulation_steps": tr["gradient_accumulation_steps"],
        # transformers 5: a float below 1 is a fraction of the total steps.
        "warmup_steps": tr["warmup_ratio"],
        "weight_decay": tr["weight_decay"],
        "lr_scheduler_type": tr["lr_scheduler_type"],
        "logging_steps": tr["logging_steps"],
        "eval_strategy": "steps" if has_eval else "no",
        "save_strategy": "steps",
        "save_steps": tr["save_steps"],
        "save_total_limit": 2,
        "seed": tr["seed"],
        "bf16": hardware["bf16"],
        "use_cpu": not hardware["cuda"],
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if has_eval:
        args["per_device_eval_batch_size"] = tr["per_device_train_batch_size"]
        args["eval_steps"] = tr["eval_steps"] or tr["logging_steps"]
    peft = job.config.get("peft") or {}
    if peft.get("method") == PeftMethod.QLORA and hardware["cuda"] and peft.get("optim"):
        args["optim"] = peft["optim"]
    return args


def last_complete_checkpoint(
    checkpoint_dir: str | Path, *, marker: str = "trainer_state.json"
) -> str | None:
    """The newest `checkpoint-N` folder whose writer finished it, for resume.

    A run killed while saving leaves a folder without its state, and transformers'
    `get_last_checkpoint` would pick that folder and fail the retry ("Can't find a valid
    checkpoint"). The trainer writes `trainer_state.json` last (PPO renames its `state.pt` into
    place last), so only folders whose marker is there, and for JSON reads back whole, count."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        state = path / marker
        if not step.isdigit() or not state.is_file():
            continue
        if state.suffix == ".json":
            try:
                json.loads(state.read_text())
            except (OSError, ValueError):
                continue
        found.append((int(step), path))
    return str(max(found)[1]) if found else None
