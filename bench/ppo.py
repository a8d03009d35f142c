"""PPO step time broken down into generation, scoring and optimisation (training/ppo.py),
and, on a CUDA GPU, peak memory with QLoRA against full-precision (bf16) LoRA.

No hub access: models are random-weight Llamas built locally (training.tiny sizes, or a
~1B "1b" config on GPU). Baseline for memory: the same run with LoRA on a bf16 base.

    .venv/bin/python bench/ppo.py [--size tiny|20m|1b] [--method lora|qlora] [--steps 4]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    [{"role": "user", "content": q}]
    for q in ("What is two plus two?", "Name three fruits.", "Tell me a story.", "Say hello.")
]


def build_base(folder: Path, size: str) -> str:
    from training.tiny import SIZES, build_tiny_model

    if size == "1b":
        SIZES["1b"] = (2048, 5632, 16, 16, 4, 8000)
    return str(build_tiny_model(folder, size=size))


def load(base: str, method: str):
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        BitsAndBytesConfig,
    )

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    kwargs = {"dtype": dtype}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_skip_modules=["score", "lm_head"],
        )
        kwargs["device_map"] = {"": 0}
    device = "cuda" if cuda else "cpu"
    tok = AutoTokenizer.from_pretrained(base)
    lora = {"r": 16, "lora_alpha": 32, "target_modules": "all-linear"}
    policy = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    value = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, **kwargs)
    reward = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, **kwargs)
    if method == "qlora":
        policy = prepare_model_for_kbit_training(policy, use_gradient_checkpointing=False)
        value = prepare_model_for_kbit_training(value, use_gradient_checkpointing=False)
    for m in (value, reward):
        m.config.pad_token_id = tok.pad_token_id
    policy = get_peft_model(policy, LoraConfig(**lora, task_type="CAUSAL_LM"))
    value = get_peft_model(value, LoraConfig(**lora, task_type="SEQ_CLS"))
    if method != "qlora":
        policy, value, reward = policy.to(device), value.to(device), reward.to(device)
    return tok, policy, value, reward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="tiny", choices=("tiny", "20m", "1b"))
    parser.add_argument("--method", default="lora", choices=("lora", "qlora", "both"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--response-length", type=int, default=32)
    args = parser.parse_args()
    if args.method == "both":
        compare(args)
        return
    import torch

    from training.ppo import PPOConfig, PPOTrainer

    if args.method == "qlora" and not torch.cuda.is_available():
        sys.exit("QLoRA needs a CUDA GPU.")
    with tempfile.TemporaryDirectory() as tmp:
        base = build_base(Path(tmp) / "base", args.size)
        tok, policy, value, reward = load(base, args.method)
        config = PPOConfig(
            output_dir=str(Path(tmp) / "out"),
            total_steps=args.steps,
            batch_size=args.batch,
            mini_batch_size=max(1, args.batch // 2),
            num_ppo_epochs=2,
            response_length=args.response_length,
            save_steps=0,
            sample_every=0,
        )
        trainer = PPOTrainer(
            config=config,
            policy=policy,
            value_model=value,
            reward_model=reward,
            tokenizer=tok,
            prompts=PROMPTS,
        )
        trainer.step([PROMPTS[0]] * args.batch)  # warm-up, not timed
        trainer.step_count = 0
        trainer.timings = dict.fromkeys(trainer.timings, 0.0)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - started
    t = trainer.timings
    print(f"model {args.size} ({args.method}), {args.steps} steps, batch {args.batch}")
    print(f"response length {args.response_length}")
    print(f"step time: {1000 * total / args.steps:.0f} ms")
    for key in ("generation", "scoring", "optimization"):
        print(f"  {key}: {1000 * t[key] / args.steps:.0f} ms ({100 * t[key] / total:.0f}%)")
    if torch.cuda.is_available():
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def compare(args) -> None:
    """QLoRA against the bf16 LoRA baseline, each in its own process."""
    import re
    import subprocess

    peaks = {}
    for method in ("lora", "qlora"):
        out = subprocess.run(
            [sys.executable, __file__, "--size", args.size, "--method", method,
             "--steps", str(args.steps), "--batch", str(args.batch),
             "--response-length", str(args.response_length)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        print(out.strip())
        found = re.search(r"peak GPU memory: (\d+) MiB", out)
        step = re.search(r"step time: (\d+) ms", out)
        peaks[method] = (int(found.group(1)) if found else None, int(step.group(1)))
    if peaks["lora"][0] and peaks["qlora"][0]:
        print(f"memory ratio qlora/lora: {peaks['qlora'][0] / peaks['lora'][0]:.3f}")
    print(f"step time ratio qlora/lora: {peaks['qlora'][1] / peaks['lora'][1]:.3f}")


if __name__ == "__main__":
    main()
