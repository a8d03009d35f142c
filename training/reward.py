"""The reward-model run of one job: TRL's RewardTrainer on a preference snapshot.

`AutoModelForSequenceClassification` (num_labels=1) from any base, decoder or encoder, with a
LoRA adapter (task type SEQ_CLS, the score head trained in full) or QLoRA with the score head
kept out of quantization. Snapshot margins enter the loss when present. Pairs are tokenized
here rather than by TRL, so that pairs longer than max_length are counted per task type and
either dropped (TRL's behaviour, now reported) or truncated. After training the validation
pairs are scored: pairwise accuracy and mean margin, overall and per task type, and the
reward distribution.

Worker-side code only: torch, transformers, peft and trl are imported inside the functions.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .models import TrainingJob
from .trl_args import last_complete_checkpoint, trl_common_args

HEAD_NAMES = ("score", "classifier")


def pair_text(messages: list[dict]) -> str:
    """A conversation as plain text, for encoders without a chat template."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def encode_conversation(tokenizer, messages: list[dict]) -> list[int]:
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    return tokenizer(pair_text(messages), truncation=False)["input_ids"]


def _truncate(ids: list[int], max_length: int, tokenizer) -> list[int]:
    """Keep the head and the final token (eos, or [SEP] for an encoder)."""
    if len(ids) <= max_length:
        return ids
    return ids[: max_length - 1] + ids[-1:]


def tokenize_pairs(rows, *, tokenizer, max_length: int, long_pairs: str):
    """(dataset of chosen_ids, rejected_ids, margin, task_type; report per task type of rows,
    long pairs, and how many were dropped or truncated)."""
    from datasets import Dataset

    report: dict[str, dict[str, int]] = defaultdict(
        lambda: {"rows": 0, "too_long": 0, "dropped": 0, "truncated": 0}
    )
    out = []
    for row in rows:
        prompt = list(row["prompt"])
        chosen = encode_conversation(tokenizer, prompt + list(row["chosen"]))
        rejected = encode_conversation(tokenizer, prompt + list(row["rejected"]))
        counts = report[row["task_type"]]
        counts["rows"] += 1
        if max(len(chosen), len(rejected)) > max_length:
            counts["too_long"] += 1
            if long_pairs == "drop":
                counts["dropped"] += 1
                continue
            counts["truncated"] += 1
            chosen = _truncate(chosen, max_length, tokenizer)
            rejected = _truncate(rejected, max_length, tokenizer)
        out.append(
            {
                "chosen_ids": chosen,
                "rejected_ids": rejected,
                "margin": float(row.get("margin") or 0.0),
                "task_type": row["task_type"],
            }
        )
    return Dataset.from_list(out) if out else None, dict(report)


def load_reward_model(path: str, base_model: str, *, dtype=None, base=None):
    """A trained reward adapter on its base, frozen, for scoring. `base` is the base already
    loaded (PPO loads it through `load_seq_cls_model`, in 4-bit for a QLoRA job on a GPU)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if base is None:
        kwargs = {"dtype": dtype} if dtype is not None else {}
        base = AutoModelForSequenceClassification.from_pretrained(
            base_model, num_labels=1, **kwargs
        )
    base.config.pad_token_id = tokenizer.pad_token_id
    model = PeftModel.from_pretrained(base, path)
    model.eval()
    return model


def pairs_evaluate(model, dataset, *, pad_token_id: int, batch_size: int = 16) -> dict[str, Any]:
    """Pairwise accuracy and mean margin (overall and per task type) and the distribution of
    rewards, on tokenized pairs."""
    import torch

    device = next(model.parameters()).device
    model.eval()

    def rewards(seqs: list[list[int]]) -> list[float]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        return logits.squeeze(-1).float().tolist()

    chosen_r, rejected_r = [], []
    for start in range(0, len(dataset), batch_size):
        part = dataset[start : start + batch_size]
        chosen_r += rewards(part["chosen_ids"])
        rejected_r += rewards(part["rejected_ids"])
    per: dict[str, list[float]] = defaultdict(list)
    for task_type, c, r in zip(dataset["task_type"], chosen_r, rejected_r, strict=True):
        per[task_type].append(c - r)
    margins = [c - r for c, r in zip(chosen_r, rejected_r, strict=True)]
    every = torch.tensor(chosen_r + rejected_r)
    quantiles = torch.quantile(every, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])).tolist()
    counts, edges = torch.histogram(every, bins=10)
    return {
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "margin": sum(margins) / len(margins),
        "per_task_type": {
            t: {"accuracy": sum(m > 0 for m in ms) / len(ms), "margin": sum(ms) / len(ms)}
            for t, ms in sorted(per.items())
        },
        "distribution": {
            "chosen_mean": sum(chosen_r) / len(chosen_r),
            "rejected_mean": sum(rejected_r) / len(rejected_r),
            "std": every.std().item() if len(every) > 1 else 0.0,
            "quantiles": dict(zip(("p5", "p25", "p50", "p75", "p95"), quantiles, strict=True)),
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        },
    }


def load_seq_cls_model(base_model: str, peft: dict[str, Any], hardware: dict[str, Any]):
    from transformers import AutoModelForSequenceClassification

    from .sft import quantized_kwargs

    # The fresh score head is trained in full: it stays out of quantization.
    kwargs = quantized_kwargs(peft, hardware, skip_modules=list(HEAD_NAMES))
    return AutoModelForSequenceClassification.from_pretrained(base_model, num_labels=1, **kwargs)


def head_input_follows_weights(model, head: str) -> None:
    """For a 4-bit base TRL keeps every trainable weight in bf16, the trained copy of the score
    head too. Where the rest of the model computes in float32 (no bf16 on the hardware), the
    head would get float32 hidden states: cast them to the head's dtype on the way in."""

    def cast(module, args):
        return tuple(a.to(module.weight.dtype) if hasattr(a, "to") else a for a in args)

    for name, module in model.named_modules():
        if f"{head}.modules_to_save." in f"{name}." and hasattr(module, "weight"):
            module.register_forward_pre_hook(cast)


def build_reward_config(job: TrainingJob, *, hardware: dict[str, Any], has_eval: bool):
    from trl import RewardConfig

    return RewardConfig(
        **trl_common_args(job, hardware=hardware, has_eval=has_eval),
        max_length=job.config["training"]["max_length"],
        center_rewards_coefficient=job.config["rl"]["center_rewards_coefficient"] or None,
        remove_unused_columns=True,
    )


def train_reward(job: TrainingJob, *, callbacks: list | None = None) -> str:
    from transformers import AutoTokenizer
    from trl import RewardTrainer

    from .rl_common import (
        adapter_finish,
        build_logging_callback_class,
        build_lora_config,
        check_lora,
        is_main_process,
        run_cancelled,
        trainable_counts,
    )
    from .services import job_record, metric_points_record_steps
    from .sft import detect_hardware, peak_memory_bytes, snapshot_load

    hardware = detect_hardware()
    main = is_main_process()  # rank 0 writes the job's rows under `accelerate launch`
    peft = job.config["peft"]
    check_lora(peft, "Reward")
    tr, rl = job.config["training"], job.config["rl"]
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    splits = snapshot_load(job.snapshot.path)
    encoded, report = {}, {}
    for name, rows in splits.items():
        encoded[name], report[name] = tokenize_pairs(
            rows, tokenizer=tokenizer, max_length=tr["max_length"], long_pairs=rl["long_pairs"]
        )
    if encoded.get("train") is None:
        raise ValueError(f"No preference pair fits max_length={tr['max_length']}.")
    has_eval = encoded.get("validation") is not None
    args = build_reward_config(job, hardware=hardware, has_eval=has_eval)
    resolved = {**job.config, "hardware": hardware, "long_pairs": rl["long_pairs"]}
    if main:
        job_record(
            job_id=job.pk, data_report={"before": report}, config=resolved, hardware=hardware
        )

    model = load_seq_cls_model(job.base_model, peft, hardware)
    model.config.pad_token_id = tokenizer.pad_token_id
    head = next(n for n in HEAD_NAMES if hasattr(model, n))
    strip = ["task_type"]
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=encoded["train"].remove_columns(strip),
        eval_dataset=encoded["validation"].remove_columns(strip) if has_eval else None,
        processing_class=tokenizer,
        peft_config=build_lora_config(peft, task_type="SEQ_CLS", modules_to_save=[head]),
    )
    if getattr(model, "is_loaded_in_4bit", False):
        head_input_follows_weights(trainer.model, head)
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

    evaluation = None
    if has_eval:
        evaluation = pairs_evaluate(
            trainer.model, encoded["validation"], pad_token_id=tokenizer.pad_token_id
        )
        step = trainer.state.global_step
        values = {
            "eval/pairwise_accuracy": evaluation["accuracy"],
            "eval/mean_margin": evaluation["margin"],
        }
        for task_type, m in evaluation["per_task_type"].items():
            values[f"eval/pairwise_accuracy/{task_type}"] = m["accuracy"]
            values[f"eval/mean_margin/{task_type}"] = m["margin"]
        if main:  # written once, not once per process
            metric_points_record_steps(job_id=job.pk, steps=[(step, values)])
    if main:
        job_record(
            job_id=job.pk,
            data_report={"before": report, "reward_eval": evaluation},
            peak_memory_bytes=peak_memory_bytes(hardware),
        )
    if callback.cancelled:
        return run_cancelled(job=job)
    return adapter_finish(
        job=job,
        trainer=trainer,
        tokenizer=tokenizer,
        resolved=resolved,
    )
