"""The DPO run of one job: TRL's DPOTrainer on a preference snapshot.

The policy is a LoRA/DoRA/QLoRA adapter on the base (an SFT model, merged or full); the
reference is the same model with the adapter disabled (TRL does this when given a PEFT
config and no reference model), so no second copy of the weights is loaded. Metrics are
what TRL logs: rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, logps.

Worker-side code only: torch, transformers, peft and trl are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models import TrainingJob
from .trl_args import last_complete_checkpoint, trl_common_args


def build_dpo_config(job: TrainingJob, *, hardware: dict[str, Any], has_eval: bool):
    from trl import DPOConfig

    rl = job.config["rl"]
    return DPOConfig(
        **trl_common_args(job, hardware=hardware, has_eval=has_eval),
        max_length=job.config["training"]["max_length"],
        beta=rl["beta"],
        loss_type=[rl["loss_type"]],
    )


def dpo_length_report(rows, *, tokenizer, max_length: int) -> dict[str, dict[str, int]]:
    """Pairs per task type, and how many TRL will truncate (prompt + longer answer over
    max_length). TRL's DPO truncates; it drops nothing."""
    report: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = report.setdefault(row["task_type"], {"rows": 0, "truncated": 0, "dropped": 0})
        counts["rows"] += 1
        longest = max(
            len(tokenizer.apply_chat_template(list(row["prompt"]) + list(row[side]), tokenize=True,
                                              return_dict=True)["input_ids"])
            for side in ("chosen", "rejected")
        )  # fmt: skip
        if longest > max_length:
            counts["truncated"] += 1
    return dict(sorted(report.items()))


def train_dpo(job: TrainingJob, *, callbacks: list | None = None) -> str:
    from transformers import AutoTokenizer
    from trl import DPOTrainer

    from .rl_common import (
        adapter_finish,
        build_logging_callback_class,
        build_lora_config,
        check_lora,
        is_main_process,
        run_cancelled,
        trainable_counts,
    )
    from .services import job_record
    from .sft import detect_hardware, load_model, peak_memory_bytes, snapshot_load

    hardware = detect_hardware()
    main = is_main_process()  # rank 0 writes the job's rows under `accelerate launch`
    peft = job.config["peft"]
    check_lora(peft, "DPO")
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    splits = snapshot_load(job.snapshot.path)
    keep = ["prompt", "chosen", "rejected"]
    data = {
        n: s.remove_columns([c for c in s.column_names if c not in keep]) for n, s in splits.items()
    }
    has_eval = "validation" in data and len(data["validation"]) > 0
    counts = {
        name: dpo_length_report(
            split, tokenizer=tokenizer, max_length=job.config["training"]["max_length"]
        )
        for name, split in splits.items()
    }
    args = build_dpo_config(job, hardware=hardware, has_eval=has_eval)
    resolved = {**job.config, "hardware": hardware, "reference": "policy with adapter disabled"}
    if main:
        job_record(
            job_id=job.pk, data_report={"before": counts}, config=resolved, hardware=hardware
        )

    model = load_model(job.base_model, peft, hardware)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["validation"] if has_eval else None,
        processing_class=tokenizer,
        peft_config=build_lora_config(peft, task_type="CAUSAL_LM"),
    )
    callback = build_logging_callback_class()(job_id=job.pk, trainer=trainer)
    trainer.add_callback(callback)
    for extra in callbacks or []:
        trainer.add_callback(extra)
    trainable, total = trainable_counts(trainer.model)
    resolved["quantization"] = "nf4 4-bit" if getattr(model, "is_loaded_in_4bit", False) else "none"
    if main:
        job_record(job_id=job.pk, config=resolved, trainable_params=trainable, total_params=total)
    checkpoint_dir = Path(args.output_dir)
    resume = last_complete_checkpoint(checkpoint_dir)
    trainer.train(resume_from_checkpoint=resume)
    if main:
        job_record(job_id=job.pk, peak_memory_bytes=peak_memory_bytes(hardware))
    if callback.cancelled:
        return run_cancelled(job=job)
    return adapter_finish(
        job=job,
        trainer=trainer,
        tokenizer=tokenizer,
        resolved=resolved,
    )
