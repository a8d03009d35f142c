"""The SFT run of one job: read the snapshot, build the TRL config from the stored job, train
with loss per task-type channel and per special/content tokens, save the adapter.

Worker-side code only (the child process of `python -m training.run`): torch, transformers,
peft and trl are imported inside the functions, so the web path never loads them.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import traceback
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .job_callback import build_callback_class
from .models import JobStatus, PeftMethod, TrainingJob
from .services import (
    adapter_create,
    job_claim,
    job_finish,
    job_heartbeat,
    job_record,
)
from .services.adapters import folder_size
from .trl_args import last_complete_checkpoint, trl_common_args

HEARTBEAT_SECONDS = float(os.environ.get("FLYWHEEL_HEARTBEAT_SECONDS", "10"))
ERROR_NO_TRAIN_ROWS = "No training row is left after truncation to max_length={max_length}."


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# --------------------------------------------------------------------------- data


def snapshot_load(path: str | Path):
    """The snapshot's splits as a DatasetDict: `hf/` when present, else the JSONL files."""
    from datasets import DatasetDict, load_dataset, load_from_disk

    path = Path(path)
    if (path / "hf").is_dir():
        return load_from_disk(str(path / "hf"))
    files = {
        s: str(path / f"{s}.jsonl")
        for s in ("train", "validation")
        if (path / f"{s}.jsonl").is_file()
    }
    return DatasetDict(load_dataset("json", data_files=files))


def tokenize_rows(
    rows, *, tokenizer, chat_template: str | None, channels: list[str], max_length: int
):
    """Tokenize conversations with assistant-only labels, and count, per task type, the rows
    TRL will truncate (longer than max_length) and drop (no assistant token left after that)."""
    report: dict[str, dict[str, int]] = defaultdict(
        lambda: {"rows": 0, "truncated": 0, "dropped": 0}
    )
    index = {name: i for i, name in enumerate(channels)}

    def encode(example):
        out = tokenizer.apply_chat_template(
            example["messages"],
            chat_template=chat_template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = out["input_ids"], out["assistant_masks"]
        labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
        return {"input_ids": ids, "labels": labels, "task_type_id": index[example["task_type"]]}

    encoded = rows.map(encode, remove_columns=rows.column_names)
    for task_type, labels in zip(rows["task_type"], encoded["labels"], strict=True):
        counts = report[task_type]
        counts["rows"] += 1
        if len(labels) > max_length:
            if all(label == -100 for label in labels[:max_length]):
                counts["dropped"] += 1
            else:
                counts["truncated"] += 1
    return encoded, dict(report)


# --------------------------------------------------------------------------- trainer


def build_trainer_class():
    import torch
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    class ChannelCollator(DataCollatorForLanguageModeling):
        """TRL's collator, plus the row's task-type index for the per-channel loss."""

        def torch_call(self, examples):
            out = super().torch_call(examples)
            out["task_type_id"] = torch.tensor([e["task_type_id"] for e in examples])
            return out

    class ChannelSFTTrainer(SFTTrainer):
        """SFTTrainer that also sums token losses per task type and per special/content token.

        TRL's fused LM head already returns per-token log-probs (zero on ignored positions,
        virtual prompt-tuning tokens included); a forward hook reads them, so the channels
        cost a few reductions per step and no extra forward pass. Sums stay on the device
        until a log step, so there is no host sync per step.
        """

        def __init__(self, *args, channels: list[str], special_ids: list[int], **kwargs):
            super().__init__(*args, **kwargs)
            self.channels = channels
            self._special_ids = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
            self._sums: dict[str, torch.Tensor | None] = {"train": None, "eval": None}
            self._captured = None
            self.model.register_forward_hook(self._capture)

        def _capture(self, module, args, output):
            self._captured = output

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if "task_type_id" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "task_type_id"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            task_ids = inputs.pop("task_type_id", None)
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            output, self._captured = self._captured, None
            log_probs = getattr(output, "log_probs", None)
            if task_ids is not None and log_probs is not None:
                self._accumulate(log_probs.detach(), inputs["labels"], task_ids)
            return result

        def _accumulate(self, log_probs, labels, task_ids):
            mode = "train" if self.model.training else "eval"
            target = labels[:, 1:]
            width = target.shape[1]
            # Prompt tuning prepends virtual tokens: keep only the positions of real tokens.
            nll = -log_probs[:, -width:].float()
            mask = target != -100
            special = torch.isin(target, self._special_ids.to(target.device)) & mask
            content = mask & ~special
            n = len(self.channels)
            sums = self._sums[mode]
            if sums is None:
                sums = self._sums[mode] = torch.zeros(n + 2, 2, device=nll.device)
            nll = nll * mask
            sums[:n, 0].index_add_(0, task_ids.to(nll.device), nll.sum(1))
            sums[:n, 1].index_add_(0, task_ids.to(nll.device), mask.sum(1).float())
            sums[n, 0] += (nll * special).sum()
            sums[n, 1] += special.sum()
            sums[n + 1, 0] += (nll * content).sum()
            sums[n + 1, 1] += content.sum()

        def channel_losses(self, mode: str) -> dict[str, float]:
            """Mean token loss per channel since the last call, summed over all processes."""
            sums, self._sums[mode] = self._sums[mode], None
            if sums is None:
                return {}
            sums = self.accelerator.reduce(sums, reduction="sum").tolist()
            names = [f"loss/{c}" for c in self.channels] + [
                "loss/special_tokens",
                "loss/content_tokens",
            ]
            return {name: s / c for name, (s, c) in zip(names, sums, strict=True) if c > 0}

    return ChannelSFTTrainer, ChannelCollator


# --------------------------------------------------------------------------- config


def detect_hardware() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cuda": cuda,
        "gpus": torch.cuda.device_count() if cuda else 0,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
    }


def build_peft_config(peft: dict[str, Any], *, base_model: str):
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit

    method = peft["method"]
    if method in (PeftMethod.LORA, PeftMethod.DORA, PeftMethod.QLORA):
        return LoraConfig(
            r=peft["r"],
            lora_alpha=peft["lora_alpha"],
            lora_dropout=peft["lora_dropout"],
            target_modules=peft["target_modules"],
            use_dora=peft.get("use_dora", False),
            task_type="CAUSAL_LM",
        )
    if method == PeftMethod.PROMPT_TUNING:
        text = peft["init"] == "text"
        return PromptTuningConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=peft["num_virtual_tokens"],
            prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.RANDOM,
            prompt_tuning_init_text=peft["init_text"] if text else None,
            tokenizer_name_or_path=base_model if text else None,
        )
    return None


def quantized_kwargs(
    peft: dict[str, Any], hardware: dict[str, Any], *, skip_modules: list[str] | None = None
) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for a base model: its dtype and, for QLoRA, the 4-bit
    NF4 config placed on this process's GPU (`LOCAL_RANK`), or on the CPU where there is none.

    The 4-bit layers compute in the configured dtype only on hardware with bf16; elsewhere in
    float32 like the rest of the model, since a float32 layer kept out of quantization (a reward
    model's score head) cannot take bf16 activations."""
    import torch
    from transformers import BitsAndBytesConfig

    dtype = torch.bfloat16 if hardware["bf16"] else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if peft["method"] != PeftMethod.QLORA:
        return kwargs
    compute = torch.bfloat16 if peft["bnb_4bit_compute_dtype"] == "bfloat16" else torch.float16
    kwargs["quantization_config"] = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=peft["bnb_4bit_quant_type"],
        bnb_4bit_use_double_quant=peft["bnb_4bit_use_double_quant"],
        bnb_4bit_compute_dtype=compute if hardware["bf16"] else torch.float32,
        llm_int8_skip_modules=skip_modules,
    )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kwargs["device_map"] = {"": local_rank} if hardware["cuda"] else "cpu"
    return kwargs


def load_model(base_model: str, peft: dict[str, Any], hardware: dict[str, Any]):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_model, **quantized_kwargs(peft, hardware))


def build_sft_config(job: TrainingJob, *, hardware: dict[str, Any], has_eval: bool):
    from trl import SFTConfig

    return SFTConfig(
        **trl_common_args(job, hardware=hardware, has_eval=has_eval),
        max_length=job.config["training"]["max_length"],
        prediction_loss_only=True,
        # Labels are built from the chat template's generation markers before the trainer
        # sees the rows (one tokenization pass, which also counts truncation per task type).
        assistant_only_loss=False,
    )


def special_token_ids(tokenizer) -> list[int]:
    """bos, eos, pad, unk, role markers: every special or added-special token. Only those at
    trained positions count, so with assistant-only labels that is the end of turn / eos."""
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special)
    return sorted(ids)


def peak_memory_bytes(hardware: dict[str, Any]) -> int:
    if hardware["cuda"]:
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def base_model_size_bytes(base_model: str, total_params: int) -> int:
    path = Path(base_model)
    if path.is_dir():
        return sum(
            f.stat().st_size
            for f in path.iterdir()
            if f.suffix in (".safetensors", ".bin") and f.is_file()
        )
    return total_params * 2  # bf16 weights of a hub model


# --------------------------------------------------------------------------- run


def sft_prepare(job: TrainingJob, *, extra_config: dict | None = None) -> SimpleNamespace:
    """What every SFT run does before it loads the model: the tokenizer (with a training chat
    template when the model's has no generation markers), the snapshot tokenized with rows
    counted per task type (truncated, dropped), the trainer arguments, and the resolved config
    and row counts recorded on the job. Shared by plain SFT and prompt-ensemble runs."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    hardware = detect_hardware()
    config = job.config
    tr = config["training"]
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    chat_template = None
    if not has_generation_markers(tokenizer.chat_template):
        chat_template = get_training_chat_template(tokenizer)

    splits = snapshot_load(job.snapshot.path)
    channels = sorted({t for split in splits.values() for t in split["task_type"]})
    encoded, report = {}, {}
    for name, rows in splits.items():
        encoded[name], report[name] = tokenize_rows(
            rows,
            tokenizer=tokenizer,
            chat_template=chat_template,
            channels=channels,
            max_length=tr["max_length"],
        )
    kept = sum(r["rows"] - r["dropped"] for r in report["train"].values())
    if kept == 0:
        raise ValueError(ERROR_NO_TRAIN_ROWS.format(max_length=tr["max_length"]))
    has_eval = "validation" in encoded and len(encoded["validation"]) > 0

    args = build_sft_config(job, hardware=hardware, has_eval=has_eval)
    resolved = {
        **config,
        "vocab_size": len(tokenizer),
        "hardware": hardware,
        "trl": {
            "optim": str(getattr(args.optim, "value", args.optim)),
            "bf16": args.bf16,
            "use_cpu": args.use_cpu,
            "max_length": args.max_length,
            "truncation_mode": args.truncation_mode,
            "loss": "assistant tokens only (chat template generation markers)",
        },
        **(extra_config or {}),
    }
    main = is_main_process()
    if main:  # the page shows the row counts and the config before the first step
        job_record(
            job_id=job.pk, data_report={"before": report}, config=resolved, hardware=hardware
        )
    return SimpleNamespace(
        main=main,
        hardware=hardware,
        tokenizer=tokenizer,
        chat_template=chat_template,
        channels=channels,
        encoded=encoded,
        report=report,
        has_eval=has_eval,
        args=args,
        resolved=resolved,
    )


def train_sft(job: TrainingJob, *, callbacks: list | None = None) -> str:
    """Train the job; returns the status it ended in. `callbacks` are extra TrainerCallbacks
    (tests use one to check which parameters changed)."""
    if job.config["peft"].get("ensemble_size", 1) > 1:
        from .ensemble_train import train_ensemble

        return train_ensemble(job, callbacks=callbacks)
    prep = sft_prepare(job)
    main, hardware, tokenizer, args = prep.main, prep.hardware, prep.tokenizer, prep.args
    encoded, report, has_eval, resolved = prep.encoded, prep.report, prep.has_eval, prep.resolved
    peft = job.config["peft"]
    model = load_model(job.base_model, peft, hardware)
    trainer_class, collator_class = build_trainer_class()
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"] if has_eval else None,
        processing_class=tokenizer,
        peft_config=build_peft_config(peft, base_model=job.base_model),
        data_collator=collator_class(pad_token_id=tokenizer.pad_token_id),
        channels=prep.channels,
        special_ids=special_token_ids(tokenizer),
    )
    callback = build_callback_class()(job_id=job.pk, trainer=trainer)
    trainer.add_callback(callback)
    for extra in callbacks or []:
        trainer.add_callback(extra)
    resolved["quantization"] = "nf4 4-bit" if getattr(model, "is_loaded_in_4bit", False) else "none"

    if hasattr(trainer.model, "get_nb_trainable_parameters"):
        trainable, total = trainer.model.get_nb_trainable_parameters()
    else:
        params = list(trainer.model.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        total = sum(p.numel() for p in params)
    checkpoint_dir = Path(args.output_dir)
    resume = last_complete_checkpoint(checkpoint_dir)
    if main:
        job_record(
            job_id=job.pk,
            config=resolved,
            trainable_params=trainable,
            total_params=total,
            full_model_size_bytes=base_model_size_bytes(job.base_model, total),
        )

    trainer.train(resume_from_checkpoint=resume)

    trained_rows = {}
    for name, dataset in (("train", trainer.train_dataset), ("validation", trainer.eval_dataset)):
        if dataset is not None:
            counts: dict[str, int] = defaultdict(int)
            for i in dataset["task_type_id"]:
                counts[prep.channels[i]] += 1
            trained_rows[name] = dict(counts)
    if not main:
        return JobStatus.CANCELLED if callback.cancelled else JobStatus.SUCCEEDED
    job_record(
        job_id=job.pk,
        data_report={"before": report, "after": trained_rows},
        peak_memory_bytes=peak_memory_bytes(hardware),
    )
    if callback.cancelled:
        job_finish(job_id=job.pk, status=JobStatus.CANCELLED)
        return JobStatus.CANCELLED
    adapter_dir = Path(job.output_dir) / "adapter"
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    (adapter_dir / "flywheel.json").write_text(
        json.dumps({"job": job.pk, "config": resolved}, indent=2)
    )
    job.refresh_from_db()
    adapter = adapter_create(job=job, path=adapter_dir)
    job_record(job_id=job.pk, adapter_size_bytes=folder_size(adapter_dir) if adapter else None)
    job_finish(job_id=job.pk, status=JobStatus.SUCCEEDED)
    return JobStatus.SUCCEEDED


class _Heartbeat(threading.Thread):
    """Beats while the model loads and the data is tokenized, when no step runs."""

    def __init__(self, job_id: int):
        super().__init__(daemon=True)
        self.job_id = job_id
        self.stopped = threading.Event()

    def run(self):
        from django.db import connection

        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                job_heartbeat(job_id=self.job_id)
        finally:
            connection.close()


def run_job(*, job_id: int, callbacks: list | None = None, train=None) -> int:
    """Entry point of the child process; the exit code tells the worker how it went."""
    job = TrainingJob.objects.select_related("snapshot").get(pk=job_id)
    main = is_main_process()
    if main and job.status == JobStatus.QUEUED:
        job = job_claim(job_id=job_id, pid=os.getpid())
    if job.status != JobStatus.RUNNING:
        print(f"Job {job_id} is {job.status}; nothing to run.")
        return 2
    heartbeat = None
    if main:
        job_heartbeat(job_id=job_id, pid=os.getpid())
        heartbeat = _Heartbeat(job_id)
        heartbeat.start()
    try:
        status = (train or train_sft)(job, callbacks=callbacks)
    except Exception as exc:
        traceback.print_exc()
        if main:
            job_finish(job_id=job_id, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        if heartbeat:
            heartbeat.stopped.set()
    print(f"Job {job_id} {status}.")
    return 0
