"""GRPO and RLOO runs: TRL's online trainers on a prompts snapshot, with a trained reward model
as the reward function. The policy starts from an SFT job's adapter (trainable); with beta > 0
the reference is that model with the adapter disabled. Metrics are what TRL logs (reward,
reward_std, kl, entropy, completion lengths, clip ratios).

Worker-side code only: torch, transformers, peft and trl are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models import JobKind, TrainingJob
from .trl_args import last_complete_checkpoint, trl_common_args


def build_online_config(job: TrainingJob, *, hardware: dict[str, Any]):
    from trl import GRPOConfig, RLOOConfig

    rl = job.config["rl"]
    config_class = GRPOConfig if job.kind == JobKind.GRPO else RLOOConfig
    return config_class(
        **trl_common_args(job, hardware=hardware),
        num_generations=rl["num_generations"],
        max_completion_length=rl["response_length"],
        temperature=rl["temperature"],
        beta=rl["kl_coef"],
    )


def train_online(job: TrainingJob, *, callbacks: list | None = None) -> str:
    import torch
    from transformers import AutoTokenizer
    from trl import GRPOTrainer, RLOOTrainer

    from .models import Adapter
    from .reward import load_reward_model
    from .rl_common import (
        adapter_finish,
        build_logging_callback_class,
        is_4bit,
        is_main_process,
        load_policy,
        policy_method,
        run_cancelled,
        trainable_counts,
    )
    from .services import job_record
    from .sft import detect_hardware, peak_memory_bytes, snapshot_load

    hardware = detect_hardware()
    main = is_main_process()
    rl = job.config["rl"]
    policy_adapter = Adapter.objects.get(pk=rl["policy_adapter"])
    reward_adapter = Adapter.objects.get(pk=rl["reward_adapter"])
    dtype = torch.bfloat16 if hardware["bf16"] else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(policy_adapter.path)
    # A QLoRA job on a GPU trains the policy on a 4-bit base (SFT's loader); else as loaded.
    policy = load_policy(policy_adapter=policy_adapter, peft=job.config["peft"], hardware=hardware)
    quantized = is_4bit(policy)
    reward = load_reward_model(reward_adapter.path, reward_adapter.base_model, dtype=dtype)
    reward = reward.merge_and_unload()
    reward_tokenizer = AutoTokenizer.from_pretrained(reward_adapter.path)
    prompts = snapshot_load(job.snapshot.path)["train"].select_columns(["prompt"])
    args = build_online_config(job, hardware=hardware)
    resolved = {
        **job.config,
        "hardware": hardware,
        "reference": "policy with adapter disabled",
        "quantization": "nf4 4-bit" if quantized else "none",
    }
    if main:
        job_record(
            job_id=job.pk,
            config=resolved,
            hardware=hardware,
            data_report={"prompts": {"train": len(prompts)}},
        )
    trainer_class = GRPOTrainer if job.kind == JobKind.GRPO else RLOOTrainer
    trainer = trainer_class(
        model=policy,
        reward_funcs=reward,
        args=args,
        train_dataset=prompts,
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizer,
    )
    callback = build_logging_callback_class()(job_id=job.pk, trainer=trainer)
    trainer.add_callback(callback)
    for extra in callbacks or []:
        trainer.add_callback(extra)
    trainable, total = trainable_counts(trainer.model)
    if main:
        job_record(job_id=job.pk, trainable_params=trainable, total_params=total)
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
        method=policy_method(policy_adapter, quantized=quantized),
        base_model=policy_adapter.base_model,
    )
