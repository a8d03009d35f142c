"""The CUDA-only training paths, run through Flywheel jobs on a GPU host.

1. Memory and speed: SFT with LoRA (bf16 base), QLoRA (NF4 4-bit base, double quant, paged
   8-bit AdamW) and DoRA on a ~0.8B-parameter random Llama (`--size 800m`), the same rows and
   settings: peak GPU memory (torch.cuda.max_memory_allocated), the base model's footprint once
   loaded, seconds per step, the optimizer class the trainer really used and the final loss.
2. Every kind with QLoRA on the tiny model: SFT -> reward -> DPO, then PPO, GRPO and RLOO on
   the QLoRA SFT policy and reward adapters. Each must succeed, and its resolved config must say
   the base was loaded in 4-bit.

    python bench/gpu_check.py --size 800m --steps 30      # on a CUDA host

Prints one `CHECK {json}` line per run and a table; exits 1 if a check failed. Baseline for
the memory figure: the same SFT job with plain LoRA on a bf16 base (ratio = QLoRA / LoRA).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 3


def recorder():
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        """Step end times, the optimizer the trainer built and the base model's footprint."""

        def __init__(self):
            self.ends: list[float] = []
            self.optimizer = ""
            self.footprint = 0

        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
            inner = getattr(optimizer, "optimizer", optimizer)
            self.optimizer = f"{type(inner).__module__}.{type(inner).__name__}"
            if getattr(inner, "is_paged", False):  # bitsandbytes: paged state, 8 or 32 bits
                self.optimizer += f" (paged, {inner.args.optim_bits}-bit)"
            if model is not None and hasattr(model, "get_memory_footprint"):
                self.footprint = int(model.get_memory_footprint())

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return Recorder()


def fresh_peak():
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_job(job, callbacks=None):
    from training.run import trainer_for
    from training.services import job_launch
    from training.sft import run_job as child_run

    job_launch(job=job)
    code = child_run(job_id=job.pk, callbacks=callbacks, train=trainer_for(job.kind))
    job.refresh_from_db()
    if code != 0:
        raise RuntimeError(f"{job.kind} job {job.pk} exit {code}: {job.error}")
    return job


def check(name: str, results: list, fn):
    start = time.perf_counter()
    try:
        row = {"check": name, "ok": True, **fn()}
    except Exception as exc:  # a failed check is reported, and the next one still runs
        traceback.print_exc()
        row = {"check": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    row["seconds"] = round(time.perf_counter() - start, 1)
    results.append(row)
    print("CHECK " + json.dumps(row), flush=True)
    return row


def sft_memory(project, owner, snapshot, model: str, method: str, steps: int, batch: int):
    from training.services import job_create

    fresh_peak()
    job = job_create(
        project=project,
        created_by=owner,
        kind="sft",
        base_model=model,
        snapshot=snapshot,
        peft_method=method,
        hyperparameters={
            "learning_rate": 2e-4,
            "max_steps": steps,
            "per_device_train_batch_size": batch,
            "max_length": 512,
            "logging_steps": 1,
            "save_steps": 100000,
        },
        name=f"gpu {method}",
    )
    rec = recorder()
    job = run_job(job, [rec])
    ends = rec.ends
    from training.selectors import metric_series

    losses = metric_series(job=job).get("loss") or []
    return {
        "status": job.status,
        "quantization": job.config.get("quantization"),
        "optim_setting": (job.config.get("peft") or {}).get("optim"),
        "optimizer": rec.optimizer,
        "peak_mib": round(job.peak_memory_bytes / 2**20),
        "base_footprint_mib": round(rec.footprint / 2**20),
        "ms_per_step": round((ends[-1] - ends[WARMUP - 1]) / (len(ends) - WARMUP) * 1000, 1),
        "first_loss": round(losses[0][1], 4) if losses else None,
        "last_loss": round(losses[-1][1], 4) if losses else None,
        "trainable": job.trainable_params,
        "total": job.total_params,
    }


def qlora_chain(project, owner, tiny: str, results: list):
    from tests.training.rl_helpers import (
        KEYWORD,
        make_rl_job,
        preference_snapshot,
        prompts_snapshot,
    )
    from training.models import Adapter
    from training.services import job_create
    from training.testing import sample_conversations, snapshot_write

    made: dict = {}

    def summary(job):
        rec = {
            "status": job.status,
            "quantization": job.config.get("quantization"),
            "peak_mib": round((job.peak_memory_bytes or 0) / 2**20),
        }
        adapter = Adapter.objects.filter(job=job).first()
        if adapter:
            rec["adapter_method"] = adapter.method
        if job.config.get("quantization") != "nf4 4-bit":
            raise AssertionError(f"base not loaded in 4-bit: {rec}")
        return rec

    def sft():
        rows = sample_conversations(repeat=2)
        for row in rows[::2]:
            row["messages"][-1]["content"] += f" {KEYWORD}"
        snap = snapshot_write(project=project, train=rows, name="SFT (QLoRA chain)")
        rec = recorder()
        job = job_create(
            project=project, created_by=owner, kind="sft", base_model=tiny, snapshot=snap,
            peft_method="qlora", peft_config={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
            hyperparameters={"max_steps": 30, "per_device_train_batch_size": 9,
                             "learning_rate": 1e-2, "logging_steps": 10},
        )  # fmt: skip
        job = run_job(job, [rec])
        made["policy"] = Adapter.objects.get(job=job)
        return {**summary(job), "optimizer": rec.optimizer}

    def rl(kind: str, **hp):
        def go():
            rec = recorder()
            snapshot = (
                preference_snapshot(project)
                if kind in ("reward", "dpo")
                else prompts_snapshot(project)
            )
            job = make_rl_job(
                project=project, owner=owner, kind=kind, base_model=tiny, snapshot=snapshot,
                peft_method="qlora", **hp,
            )  # fmt: skip
            # PPO's own loop takes plain callables, not transformers callbacks.
            job = run_job(job, [] if kind == "ppo" else [rec])
            if kind == "reward":
                made["reward"] = Adapter.objects.get(job=job)
            return {**summary(job), "optimizer": rec.optimizer}

        return go

    check("qlora sft", results, sft)
    check("qlora reward", results, rl("reward", max_steps=10, learning_rate=5e-3))
    check("qlora dpo", results, rl("dpo", max_steps=6, learning_rate=5e-3))
    if "policy" not in made or "reward" not in made:
        return
    adapters = {"policy_adapter": made["policy"].pk, "reward_adapter": made["reward"].pk}
    check(
        "qlora ppo",
        results,
        rl(
            "ppo", **adapters, max_steps=4, per_device_train_batch_size=9, mini_batch_size=9,
            num_ppo_epochs=2, response_length=16, learning_rate=3e-3, save_steps=100,
        ),
    )  # fmt: skip
    for kind in ("grpo", "rloo"):
        check(
            f"qlora {kind}",
            results,
            rl(
                kind, **adapters, max_steps=2, per_device_train_batch_size=4, num_generations=4,
                response_length=8, learning_rate=1e-3,
            ),
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="800m", help="training.tiny size for the memory runs")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--methods", default="lora,qlora,dora")
    parser.add_argument("--no-chain", action="store_true", help="only the memory runs")
    opts = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="flywheel-gpu-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "flywheel.settings",
            "FLYWHEEL_VAR_DIR": str(var),
            "DEBUG": "1",
            "SECRET_KEY": "bench-only",
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django
    import torch

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from labeling.services import project_create
    from training.testing import sample_conversations, snapshot_write
    from training.tiny import build_tiny_model

    print(
        f"torch {torch.__version__} cuda {torch.version.cuda} "
        f"device {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}",
        flush=True,
    )
    owner = get_user_model().objects.create_user("gpu", password="gpu-check-only")
    project = project_create(name="GPU check", created_by=owner)
    results: list[dict] = []

    built = time.perf_counter()
    # Built on the GPU when there is one: random init of ~0.8B parameters on the CPU is slow.
    torch.set_default_device("cuda" if torch.cuda.is_available() else "cpu")
    big = str(build_tiny_model(var / f"model-{opts.size}", size=opts.size))
    tiny = str(build_tiny_model(var / "model-tiny", size="tiny"))
    torch.set_default_device("cpu")
    print(f"models built in {time.perf_counter() - built:.0f} s", flush=True)
    snapshot = snapshot_write(
        project=project, train=sample_conversations(repeat=40), name="gpu memory"
    )
    for method in opts.methods.split(","):
        check(
            f"sft {method} {opts.size}",
            results,
            lambda m=method: sft_memory(project, owner, snapshot, big, m, opts.steps, opts.batch),
        )
    if not opts.no_chain:
        qlora_chain(project, owner, tiny, results)

    by = {r["check"]: r for r in results}
    lora, qlora = by.get(f"sft lora {opts.size}"), by.get(f"sft qlora {opts.size}")
    print("\ncheck | ok | peak MiB | base MiB | ms/step | optimizer | quantization")
    for r in results:
        print(
            f"{r['check']} | {r['ok']} | {r.get('peak_mib', '')} | "
            f"{r.get('base_footprint_mib', '')} | {r.get('ms_per_step', '')} | "
            f"{r.get('optimizer', '')} | {r.get('quantization', r.get('error', ''))}"
        )
    if lora and qlora and lora["ok"] and qlora["ok"]:
        print(
            f"QLoRA / LoRA peak memory: {qlora['peak_mib']} / {lora['peak_mib']} MiB = "
            f"{qlora['peak_mib'] / lora['peak_mib']:.3f}; base footprint "
            f"{qlora['base_footprint_mib']} / {lora['base_footprint_mib']} MiB; step time "
            f"{qlora['ms_per_step'] / lora['ms_per_step']:.2f}x"
        )
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
