"""Pieces the reward and DPO runs share with the SFT run: a callback that streams every numeric
value TRL logs, the LoRA config for a task type, and saving the finished adapter.

Worker-side code: torch, transformers, peft and trl are imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import JobStatus, PeftMethod, TrainingJob

# Keys TRL logs that are bookkeeping, not metrics to chart.
SKIPPED_LOG_KEYS = {"epoch", "total_flos", "train_runtime", "step"}


def build_logging_callback_class():
    """The SFT run's JobCallback (progress, heartbeat, cancel, metric flushing), recording
    every numeric value TRL logs: `loss`, `rewards/margins`, `eval/accuracy`..."""
    from .job_callback import build_callback_class

    base = build_callback_class()

    class LoggingJobCallback(base):
        def on_log(self, args, state, control, logs=None, **kwargs):
            values = {}
            for key, value in (logs or {}).items():
                if key in SKIPPED_LOG_KEYS or not isinstance(value, int | float):
                    continue
                if key.endswith(("_runtime", "_per_second")):
                    continue
                if key.startswith("eval_"):
                    key = "eval/" + key[len("eval_") :]
                elif key == "learning_rate":
                    key = "lr"
                values[key] = value
            if values and state.is_world_process_zero:
                self._pending.append((state.global_step, values))
                self._flush()

    return LoggingJobCallback


def build_lora_config(peft: dict[str, Any], *, task_type: str, modules_to_save=None):
    from peft import LoraConfig

    return LoraConfig(
        r=peft["r"],
        lora_alpha=peft["lora_alpha"],
        lora_dropout=peft["lora_dropout"],
        target_modules=peft["target_modules"],
        use_dora=peft.get("use_dora", False),
        task_type=task_type,
        modules_to_save=modules_to_save,
    )


def check_lora(peft: dict[str, Any], kind: str) -> None:
    if peft["method"] not in (PeftMethod.LORA, PeftMethod.DORA, PeftMethod.QLORA):
        raise ValueError(f"{kind} jobs train LoRA, DoRA or QLoRA adapters, not {peft['method']}.")


def trainable_counts(model) -> tuple[int, int]:
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def is_main_process() -> bool:
    """Rank 0 of an `accelerate launch --num_processes N` run (or the only process): the one
    that writes the job's rows. The same test as the SFT run's."""
    from .sft import is_main_process as main

    return main()


def run_cancelled(*, job: TrainingJob) -> str:
    """Mark a cancelled run, once (from the main process)."""
    from .services import job_finish

    if is_main_process():
        job_finish(job_id=job.pk, status=JobStatus.CANCELLED)
    return JobStatus.CANCELLED


def save_adapter(*, job: TrainingJob, save, tokenizer, resolved: dict, **trained) -> str:
    """The end of a successful run, done once by the main process: `save(folder)` writes the
    adapter, then the Adapter row (with the method and base really trained, `trained`), its
    size, and the job marked succeeded. Other processes return without writing anything."""
    from .services import adapter_create, job_finish, job_record
    from .services.adapters import folder_size

    if not is_main_process():
        return JobStatus.SUCCEEDED
    adapter_dir = Path(job.output_dir) / "adapter"
    save(adapter_dir)
    tokenizer.save_pretrained(str(adapter_dir))
    (adapter_dir / "flywheel.json").write_text(
        json.dumps({"job": job.pk, "config": resolved}, indent=2, default=str)
    )
    job.refresh_from_db()
    adapter_create(job=job, path=adapter_dir, **trained)
    job_record(job_id=job.pk, adapter_size_bytes=folder_size(adapter_dir))
    job_finish(job_id=job.pk, status=JobStatus.SUCCEEDED)
    return JobStatus.SUCCEEDED


def adapter_finish(*, job: TrainingJob, trainer, tokenizer, resolved: dict, **trained) -> str:
    """Save a TRL trainer's adapter, register it and mark the job succeeded (main process)."""
    return save_adapter(
        job=job,
        save=lambda folder: trainer.save_model(str(folder)),
        tokenizer=tokenizer,
        resolved=resolved,
        **trained,
    )


def is_4bit(model) -> bool:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return bool(getattr(inner, "is_loaded_in_4bit", False))


def policy_method(policy_adapter, *, quantized: bool) -> str:
    """The method a PPO/GRPO/RLOO run really trained its policy adapter with: QLoRA when the
    base was loaded in 4-bit, else the adapter's own LoRA or DoRA."""
    if quantized:
        return PeftMethod.QLORA
    return PeftMethod.DORA if policy_adapter.method == PeftMethod.DORA else PeftMethod.LORA


def quantize_on(peft: dict[str, Any], hardware: dict[str, Any]) -> dict[str, Any]:
    """The PEFT settings a PPO/GRPO/RLOO base is loaded with: the job's QLoRA settings (4-bit
    NF4) on a CUDA host; on the CPU the base stays in full precision as before."""
    if peft["method"] == PeftMethod.QLORA and hardware["cuda"]:
        return peft
    return {"method": PeftMethod.LORA}


def load_policy(*, policy_adapter, peft: dict[str, Any], hardware: dict[str, Any]):
    """The SFT policy adapter on its base, trainable: the base through SFT's loader (4-bit
    for a QLoRA job on a GPU, placed on this process's GPU)."""
    from peft import PeftModel

    from .sft import load_model

    base = load_model(policy_adapter.base_model, quantize_on(peft, hardware), hardware)
    return PeftModel.from_pretrained(base, policy_adapter.path, is_trainable=True)
