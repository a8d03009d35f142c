"""Generation with N adapters: switching them on one loaded base (training.generate_job's
AdapterSwitcher: PEFT load_adapter / set_adapter) against loading a fresh base per adapter.

Each mode runs in its own child process so peak RSS (resource.getrusage) is its own.
Baseline: a fresh `from_pretrained` of the base + `PeftModel.from_pretrained` per adapter.

    .venv/bin/python bench/adapters.py [--adapters 4] [--size tiny|20m] [--prompts 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = [
    [{"role": "user", "content": q}]
    for q in ("What is two plus two?", "Name three fruits.", "Tell me a story.", "Say hello.")
]


def build(folder: Path, *, size: str, adapters: int) -> tuple[str, list[str]]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.tiny import build_tiny_model

    base = build_tiny_model(folder / "base", size=size)
    paths = []
    for i in range(adapters):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_pretrained(base)
        peft = get_peft_model(
            model, LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False)
        )
        peft.save_pretrained(folder / f"adapter-{i}")
        paths.append(str(folder / f"adapter-{i}"))
    return str(base), paths


def run_mode(mode: str, base: str, adapters: list[str], prompts: int, tokens: int) -> dict:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.generate_job import AdapterSwitcher, Sampling

    sampling = Sampling(max_new_tokens=tokens, min_new_tokens=tokens, temperature=0)
    started = time.perf_counter()
    outputs = 0
    if mode == "switch":
        switcher = AdapterSwitcher(base, {f"a{i}": p for i, p in enumerate(adapters)})
        for i in range(len(adapters)):
            for messages in MESSAGES[:prompts]:
                outputs += len(switcher.generate(f"a{i}", messages, k=1, sampling=sampling))
    else:
        for path in adapters:
            model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), path)
            switcher = AdapterSwitcher.__new__(AdapterSwitcher)
            switcher.tokenizer = __import__("transformers").AutoTokenizer.from_pretrained(base)
            switcher.base, switcher.model = model.get_base_model(), model
            model.eval()
            for messages in MESSAGES[:prompts]:
                outputs += len(switcher.generate("default", messages, k=1, sampling=sampling))
            del model, switcher
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mode": mode, "seconds": seconds, "peak_rss": rss, "outputs": outputs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--size", default="tiny", choices=("tiny", "20m"))
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"))
    args = parser.parse_args()
    if args.child:
        mode, folder = args.child
        spec = json.loads(Path(folder, "spec.json").read_text())
        print(json.dumps(run_mode(mode, spec["base"], spec["adapters"], args.prompts, args.tokens)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        base, adapters = build(Path(tmp), size=args.size, adapters=args.adapters)
        Path(tmp, "spec.json").write_text(json.dumps({"base": base, "adapters": adapters}))
        results = {}
        for mode in ("reload", "switch"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, tmp, "--prompts", str(args.prompts),
                 "--tokens", str(args.tokens)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    r, s = results["reload"], results["switch"]
    mib = 2**20
    print(f"model {args.size}, {args.adapters} adapters x {args.prompts} prompts")
    print(f"{args.tokens} new tokens each (greedy, min = max)")
    print(f"reload per adapter (baseline): {r['seconds']:.2f} s, {r['peak_rss'] / mib:.0f} MiB")
    print(f"switch on one base:            {s['seconds']:.2f} s, {s['peak_rss'] / mib:.0f} MiB")
    print(f"time ratio switch/reload: {s['seconds'] / r['seconds']:.3f}")
    print(f"memory ratio switch/reload: {s['peak_rss'] / r['peak_rss']:.3f}")


if __name__ == "__main__":
    main()
