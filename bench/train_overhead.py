"""Step time and peak memory of an SFT run through a Flywheel job against a bare TRL script.

The same tiny Llama (or a ~20M-parameter one), the same rows, the same LoRA and SFTConfig
settings. The Flywheel side runs `training.sft.run_job` (loss per task type and per
special/content token on, metrics, heartbeat and progress written to a SQLite database); the
baseline is a plain `trl.SFTTrainer` with `assistant_only_loss=True`. Each run happens in its
own process so peak RSS is that run's alone; runs alternate to share the machine's noise.

    .venv/bin/python bench/train_overhead.py --size tiny --steps 60 --trials 3
    .venv/bin/python bench/train_overhead.py --size 20m --steps 20 --trials 2

Step time is the wall time between the end of step WARMUP and the end of the last step,
divided by the steps in between, so it includes the per-step callbacks and metric writes.
Target: Flywheel / bare <= 1.05 for step time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 5
BATCH = 8
MAX_LENGTH = 256
LR = 1e-3


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepTimer()


def seconds_per_step(ends: list[float]) -> float:
    return (ends[-1] - ends[WARMUP - 1]) / (len(ends) - WARMUP)


def peak_memory(cuda: bool) -> int:
    if cuda:
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_flywheel(job_id: int) -> dict:
    import django

    django.setup()
    import torch

    from training.sft import run_job

    timer = step_timer()
    assert run_job(job_id=job_id, callbacks=[timer]) == 0
    return {
        "s_per_step": seconds_per_step(timer.ends),
        "peak": peak_memory(torch.cuda.is_available()),
    }


def child_bare(model_path: str, data_path: str, steps: int, out: str) -> dict:
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=torch.bfloat16 if cuda else torch.float32
    )
    dataset = load_from_disk(data_path)["train"]
    args = SFTConfig(
        output_dir=out,
        learning_rate=LR,
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        max_length=MAX_LENGTH,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        assistant_only_loss=True,
        bf16=cuda,
        use_cpu=not cuda,
        seed=42,
    )
    peft = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    timer = step_timer()
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[timer],
    )
    trainer.train()
    return {"s_per_step": seconds_per_step(timer.ends), "peak": peak_memory(cuda)}


def setup(var: Path, size: str) -> tuple[str, str, list[int], int]:
    """Database, model, snapshot and one draft job per trial (made in this process)."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from labeling.services import project_create
    from training.testing import sample_conversations, snapshot_write
    from training.tiny import build_tiny_model

    model = build_tiny_model(var / f"model-{size}", size=size)
    project = project_create(name=f"bench {time.time()}", created_by=None)
    snapshot = snapshot_write(project=project, train=sample_conversations(repeat=30), name="bench")
    return str(model), str(Path(snapshot.path) / "hf"), project.pk, snapshot.pk


def make_job(project_id: int, snapshot_id: int, model: str, steps: int) -> int:
    from labeling.models import DatasetSnapshot, Project
    from training.services import job_create, job_launch

    job = job_create(
        project=Project.objects.get(pk=project_id),
        created_by=None,
        kind="sft",
        base_model=model,
        snapshot=DatasetSnapshot.objects.get(pk=snapshot_id),
        peft_method="lora",
        peft_config={
            "r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "target_modules": "all-linear",
        },
        hyperparameters={
            "learning_rate": LR,
            "max_steps": steps,
            "per_device_train_batch_size": BATCH,
            "max_length": MAX_LENGTH,
            "logging_steps": 1,
            "save_steps": 100000,
        },
    )
    job_launch(job=job)
    return job.pk


def run_child(args: list[str], env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"child {args} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["tiny", "20m"], default="tiny")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
    sys.path.insert(0, str(ROOT))
    if opts.child:
        kind, *rest = opts.child
        if kind == "flywheel":
            result = child_flywheel(int(rest[0]))
        else:
            result = child_bare(rest[0], rest[1], int(rest[2]), rest[3])
        print("RESULT " + json.dumps(result))
        return

    var = Path(tempfile.mkdtemp(prefix="flywheel-bench-"))
    env = {
        **os.environ,
        "FLYWHEEL_VAR_DIR": str(var),
        "DEBUG": "1",
        "SECRET_KEY": "bench-only",
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    os.environ.update(env)
    model, data, project_id, snapshot_id = setup(var, opts.size)
    flywheel, bare = [], []
    for trial in range(opts.trials):
        job_id = make_job(project_id, snapshot_id, model, opts.steps)
        flywheel.append(run_child(["--child", "flywheel", str(job_id)], env))
        bare.append(
            run_child(
                ["--child", "bare", model, data, str(opts.steps), str(var / f"bare-{trial}")], env
            )
        )
        print(
            f"trial {trial + 1}: flywheel {flywheel[-1]['s_per_step'] * 1000:.1f} ms/step, "
            f"bare TRL {bare[-1]['s_per_step'] * 1000:.1f} ms/step",
            flush=True,
        )
    fw_step = statistics.median(r["s_per_step"] for r in flywheel)
    bare_step = statistics.median(r["s_per_step"] for r in bare)
    fw_peak = statistics.median(r["peak"] for r in flywheel)
    bare_peak = statistics.median(r["peak"] for r in bare)
    pairs = [f["s_per_step"] / b["s_per_step"] for f, b in zip(flywheel, bare, strict=True)]
    print(f"model={opts.size} steps={opts.steps} batch={BATCH} trials={opts.trials} (medians)")
    print("per-trial step-time ratios: " + ", ".join(f"{r:.3f}" for r in pairs))
    print(
        f"step time: flywheel {fw_step * 1000:.1f} ms, bare TRL {bare_step * 1000:.1f} ms, "
        f"ratio {fw_step / bare_step:.3f} (target <= 1.05)"
    )
    print(
        f"peak memory: flywheel {fw_peak / 2**20:.0f} MiB, bare TRL {bare_peak / 2**20:.0f} MiB, "
        f"ratio {fw_peak / bare_peak:.3f}"
    )


if __name__ == "__main__":
    main()
