"""Flywheel's own PPO for language models, in the style of TRL's (removed) PPOTrainer.

TRL 1.16 no longer ships PPO, so this file is the whole algorithm, readable top to bottom:

1. rollout: sample a response per prompt from the policy (the SFT adapter, trainable);
2. score: log-probs under the policy and under the reference (the same model with the adapter
   disabled), per-token values from the value model (the reward model's weights with its own
   trainable copy of the adapter), and a scalar score from the frozen reward model; a response
   without EOS gets `missing_eos_penalty` subtracted from its score;
3. reward per token = -kl_coef * KL(policy || reference) at every token, plus the score on the
   last token; GAE advantages and returns; advantages whitened;
4. optimise: `num_ppo_epochs` passes over the batch in minibatches with the clipped policy
   loss and the clipped value loss.

Worker-side code: torch, transformers and peft are imported inside functions; the tensor math
is in ppo_math.py.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ppo_math import (
    compute_gae,
    entropy_from_logits,
    first_true_indices,
    kl_estimate,
    masked_mean,
    policy_loss,
    value_loss,
    whiten,
)

if TYPE_CHECKING:  # the math and the trainer run without Django (bench/ppo.py)
    from .models import TrainingJob

# --------------------------------------------------------------------------- config


@dataclass
class PPOConfig:
    """Everything a PPO run needs besides the models and the prompts."""

    output_dir: str
    total_steps: int = 20
    batch_size: int = 8  # rollouts per step
    mini_batch_size: int = 4
    num_ppo_epochs: int = 4
    learning_rate: float = 1e-4
    max_prompt_length: int = 256
    response_length: int = 32
    temperature: float = 0.7
    kl_coef: float = 0.05
    kl_estimator: str = "k1"
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    whiten_rewards: bool = False
    missing_eos_penalty: float = 1.0
    max_grad_norm: float = 1.0
    sample_every: int = 5
    save_steps: int = 10
    seed: int = 42
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- trainer


class PPOTrainer:
    """Rollout, score, advantages, optimise; one `step()` per batch of prompts.

    `policy` is a PeftModel (its adapter trainable; disabled it is the reference),
    `value_model` a PeftModel for sequence classification whose score head reads every token,
    `reward_model` a frozen sequence classifier. `on_step(step, metrics, samples)` returns
    True to stop (a cancel)."""

    def __init__(
        self,
        *,
        config: PPOConfig,
        policy,
        value_model,
        reward_model,
        tokenizer,
        prompts: list[list[dict]],
        on_step=None,
        main_process: bool = True,
    ):
        import torch

        self.config = config
        self.policy = policy
        self.value_model = value_model
        self.reward_model = reward_model.eval()
        for param in self.reward_model.parameters():
            param.requires_grad_(False)
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.on_step = on_step
        # Under `accelerate launch` every process runs the loop; one writes the checkpoints.
        self.main_process = main_process
        self.device = next(policy.parameters()).device
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in policy.parameters() if p.requires_grad]},
                {"params": [p for p in value_model.parameters() if p.requires_grad]},
            ],
            lr=config.learning_rate,
        )
        self.step_count = 0
        self.generator = torch.Generator().manual_seed(config.seed)
        self.timings: dict[str, float] = {"generation": 0.0, "scoring": 0.0, "optimization": 0.0}

    # ---- pieces

    def _encode_prompts(self, batch: list[list[dict]]):
        tok = self.tokenizer
        texts = [
            tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in batch
        ]
        tok.padding_side = "left"
        enc = tok(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.config.max_prompt_length,
            add_special_tokens=False,
        )
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _logprobs(self, model, query_response, attention_mask, context_length):
        import torch

        logits = model(input_ids=query_response, attention_mask=attention_mask).logits
        logits = logits[:, context_length - 1 : -1] / (self.config.temperature + 1e-7)
        responses = query_response[:, context_length:]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return torch.gather(logprobs, 2, responses.unsqueeze(-1)).squeeze(-1), logits

    def _values(self, query_response, attention_mask, context_length):
        model = self.value_model
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        backbone = getattr(inner, inner.base_model_prefix)
        hidden = backbone(input_ids=query_response, attention_mask=attention_mask)[0]
        values = inner.score(hidden).squeeze(-1).float()
        return values[:, context_length - 1 : -1]

    def score(self, query_response, attention_mask):
        """The reward model's scalar per sequence: a sequence classifier pools at the last
        non-pad token, the EOS (or the last token of a response cut at response_length)."""
        logits = self.reward_model(input_ids=query_response, attention_mask=attention_mask).logits
        return logits.squeeze(-1).float()

    def rollout(self, batch: list[list[dict]]):
        import torch

        cfg = self.config
        tok = self.tokenizer
        started = time.perf_counter()
        input_ids, prompt_mask = self._encode_prompts(batch)
        context_length = input_ids.shape[1]
        self.policy.eval()
        with torch.no_grad():
            out = self.policy.generate(
                input_ids=input_ids,
                attention_mask=prompt_mask,
                max_new_tokens=cfg.response_length,
                min_new_tokens=1,
                do_sample=True,
                temperature=cfg.temperature,
                top_k=0,
                top_p=1.0,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        # Fixed width: pad every response to response_length.
        responses = out[:, context_length:]
        if responses.shape[1] < cfg.response_length:
            pad = torch.full(
                (responses.shape[0], cfg.response_length - responses.shape[1]),
                tok.pad_token_id,
                dtype=responses.dtype,
                device=responses.device,
            )
            responses = torch.cat([responses, pad], dim=1)
        # Everything after the first EOS is padding; the EOS itself is part of the response.
        is_eos = responses == tok.eos_token_id
        eos_index = first_true_indices(is_eos)
        positions = torch.arange(responses.shape[1], device=responses.device).expand_as(responses)
        response_mask = (positions <= eos_index.unsqueeze(1)).long()
        responses = torch.where(response_mask.bool(), responses, tok.pad_token_id)
        has_eos = eos_index < responses.shape[1]
        query_response = torch.cat([input_ids, responses], dim=1)
        attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
        self.timings["generation"] += time.perf_counter() - started

        started = time.perf_counter()
        with torch.no_grad():
            logprobs, _ = self._logprobs(
                self.policy, query_response, attention_mask, context_length
            )
            with self.policy.disable_adapter():
                ref_logprobs, _ = self._logprobs(
                    self.policy, query_response, attention_mask, context_length
                )
            values = self._values(query_response, attention_mask, context_length)
            scores = self.score(query_response, attention_mask)
        scores = scores - cfg.missing_eos_penalty * (~has_eos).float()
        mask = response_mask.float()
        kl = kl_estimate(logprobs, ref_logprobs, cfg.kl_estimator) * mask
        rewards = -cfg.kl_coef * kl
        last = (response_mask.sum(1) - 1).clamp(min=0)
        rewards[torch.arange(len(last)), last] += scores
        if cfg.whiten_rewards:
            rewards = whiten(rewards, mask, shift_mean=False)
        advantages, returns = compute_gae(rewards, values, mask, gamma=cfg.gamma, lam=cfg.lam)
        advantages = whiten(advantages, mask)
        self.timings["scoring"] += time.perf_counter() - started
        return {
            "query_response": query_response,
            "attention_mask": attention_mask,
            "context_length": context_length,
            "logprobs": logprobs,
            "values": values,
            "advantages": advantages,
            "returns": returns,
            "mask": mask,
            "scores": scores,
            "kl": kl,
            "has_eos": has_eos,
        }

    def optimise(self, roll: dict) -> dict[str, float]:
        import torch

        cfg = self.config
        started = time.perf_counter()
        self.policy.train()
        self.value_model.train()
        n = roll["query_response"].shape[0]
        stats: dict[str, list[float]] = {
            k: [] for k in ("policy_loss", "value_loss", "clipfrac", "vf_clipfrac", "approx_kl")
        }
        entropies = []
        ctx = roll["context_length"]
        for _ in range(cfg.num_ppo_epochs):
            order = torch.randperm(n, generator=self.generator)
            for start in range(0, n, cfg.mini_batch_size):
                idx = order[start : start + cfg.mini_batch_size].to(self.device)
                qr, am, m = (
                    roll["query_response"][idx],
                    roll["attention_mask"][idx],
                    roll["mask"][idx],
                )
                new_logprobs, logits = self._logprobs(self.policy, qr, am, ctx)
                new_values = self._values(qr, am, ctx)
                pg_loss, clipfrac, approx_kl = policy_loss(
                    new_logprobs, roll["logprobs"][idx], roll["advantages"][idx], m,
                    cliprange=cfg.cliprange,
                )  # fmt: skip
                vf_loss, vf_clipfrac = value_loss(
                    new_values, roll["values"][idx], roll["returns"][idx], m,
                    cliprange_value=cfg.cliprange_value,
                )  # fmt: skip
                loss = pg_loss + cfg.vf_coef * vf_loss
                self.optimizer.zero_grad()
                loss.backward()
                # Clipped apart: one joint norm would let the value loss's gradients shrink
                # the policy's, and Adam's memory of larger steps then stalls the policy.
                for group in self.optimizer.param_groups:
                    torch.nn.utils.clip_grad_norm_(group["params"], cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    entropies.append(masked_mean(entropy_from_logits(logits.float()), m).item())
                for key, value in (
                    ("policy_loss", pg_loss),
                    ("value_loss", vf_loss),
                    ("clipfrac", clipfrac),
                    ("vf_clipfrac", vf_clipfrac),
                    ("approx_kl", approx_kl),
                ):
                    stats[key].append(value.item())
        self.timings["optimization"] += time.perf_counter() - started
        out = {f"ppo/{k}": sum(v) / len(v) for k, v in stats.items()}
        out["ppo/entropy"] = sum(entropies) / len(entropies)
        return out

    def step(self, batch: list[list[dict]]) -> tuple[dict[str, float], list[dict]]:
        roll = self.rollout(batch)
        metrics = self.optimise(roll)
        mask = roll["mask"]
        metrics.update(
            {
                "reward": roll["scores"].mean().item(),
                "kl": (roll["kl"].sum(1)).mean().item(),
                "response_length": mask.sum(1).mean().item(),
                "eos_fraction": roll["has_eos"].float().mean().item(),
            }
        )
        self.step_count += 1
        samples = []
        if self.config.sample_every and self.step_count % self.config.sample_every == 0:
            ctx = roll["context_length"]
            for i in range(min(2, len(batch))):
                samples.append(
                    {
                        "step": self.step_count,
                        "prompt": batch[i][-1]["content"],
                        "response": self.tokenizer.decode(
                            roll["query_response"][i, ctx:], skip_special_tokens=True
                        ),
                        "score": roll["scores"][i].item(),
                    }
                )
        return metrics, samples

    # ---- checkpoints

    def save(self, folder: Path) -> None:
        import torch

        if not self.main_process:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.policy.save_pretrained(str(folder / "policy"))
        self.value_model.save_pretrained(str(folder / "value"))
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "step": self.step_count,
                "generator": self.generator.get_state(),
                "rng": torch.get_rng_state(),
            },
            folder / "state.pt.partial",
        )
        # Written last and renamed into place: a run killed mid-save leaves no state.pt, and
        # `last_complete_checkpoint` skips the folder.
        (folder / "state.pt.partial").replace(folder / "state.pt")

    def load(self, folder: Path) -> None:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        for model, name in ((self.policy, "policy"), (self.value_model, "value")):
            weights = load_file(str(folder / name / "adapter_model.safetensors"))
            set_peft_model_state_dict(model, weights)
        state = torch.load(folder / "state.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = state["step"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])

    def train(self) -> bool:
        """Run until total_steps; returns False when `on_step` asked to stop."""
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed + self.step_count)
        while self.step_count < cfg.total_steps:
            start = (self.step_count * cfg.batch_size) % len(self.prompts)
            batch = [self.prompts[(start + i) % len(self.prompts)] for i in range(cfg.batch_size)]
            metrics, samples = self.step(batch)
            stop = False
            if cfg.save_steps and self.step_count % cfg.save_steps == 0:
                self.save(Path(cfg.output_dir) / f"checkpoint-{self.step_count}")
            if self.on_step:
                stop = bool(self.on_step(self.step_count, metrics, samples))
            if stop:
                self.save(Path(cfg.output_dir) / f"checkpoint-{self.step_count}")
                return False
        return True


# --------------------------------------------------------------------------- job


def build_ppo_config(job: TrainingJob) -> PPOConfig:
    tr = job.config["training"]
    rl = job.config.get("rl", {})
    return PPOConfig(
        output_dir=str(Path(job.output_dir) / "checkpoints"),
        total_steps=tr["max_steps"] if tr["max_steps"] > 0 else 20,
        batch_size=tr["per_device_train_batch_size"],
        mini_batch_size=max(
            1, min(rl.get("mini_batch_size", 4), tr["per_device_train_batch_size"])
        ),
        num_ppo_epochs=rl.get("num_ppo_epochs", 4),
        learning_rate=tr["learning_rate"],
        max_prompt_length=tr["max_length"],
        response_length=rl.get("response_length", 32),
        temperature=rl.get("temperature", 0.7),
        kl_coef=rl.get("kl_coef", 0.05),
        missing_eos_penalty=rl.get("missing_eos_penalty", 1.0),
        sample_every=rl.get("sample_every", 5),
        save_steps=tr["save_steps"],
        seed=tr["seed"],
    )


def ppo_device(hardware: dict) -> str:
    """This process's device: the GPU of its LOCAL_RANK under `accelerate launch`."""
    import os

    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if hardware["cuda"] else "cpu"


def load_ppo_models(*, policy_adapter, reward_adapter, hardware: dict, peft: dict | None = None):
    """Policy (SFT adapter, trainable), value model (reward adapter's weights, trainable
    copy) and the frozen reward model. The three share the policy's base (config_resolve
    refuses a reward adapter on another base), so the value and reward models read the
    policy's token ids. A QLoRA job on a GPU loads the three bases in 4-bit through the SFT
    and reward loaders (`peft` is the job's resolved PEFT config); on the CPU they stay in
    full precision."""
    from peft import PeftModel

    from .reward import load_reward_model, load_seq_cls_model
    from .rl_common import is_4bit, load_policy, quantize_on

    device = ppo_device(hardware)
    settings = quantize_on(peft or {"method": "lora"}, hardware)
    policy = load_policy(policy_adapter=policy_adapter, peft=settings, hardware=hardware)
    value_base = load_seq_cls_model(reward_adapter.base_model, settings, hardware)
    value_base.config.pad_token_id = policy.get_base_model().config.pad_token_id
    value = PeftModel.from_pretrained(value_base, reward_adapter.path, is_trainable=True)
    reward_base = load_seq_cls_model(reward_adapter.base_model, settings, hardware)
    reward = load_reward_model(reward_adapter.path, reward_adapter.base_model, base=reward_base)
    # A 4-bit model is placed by its device_map and cannot be moved.
    policy, value, reward = (m if is_4bit(m) else m.to(device) for m in (policy, value, reward))
    return policy, value, reward


def train_ppo(job: TrainingJob, *, callbacks: list | None = None) -> str:
    from transformers import AutoTokenizer

    from .models import Adapter, TrainingJob
    from .rl_common import is_4bit, is_main_process, policy_method, run_cancelled, save_adapter
    from .services import job_progress, job_record, metric_points_record_steps
    from .sft import detect_hardware, peak_memory_bytes, snapshot_load
    from .trl_args import last_complete_checkpoint

    hardware = detect_hardware()
    main = is_main_process()
    rl = job.config["rl"]
    policy_adapter = Adapter.objects.get(pk=rl["policy_adapter"])
    reward_adapter = Adapter.objects.get(pk=rl["reward_adapter"])
    config = build_ppo_config(job)
    tokenizer = AutoTokenizer.from_pretrained(policy_adapter.path)
    splits = snapshot_load(job.snapshot.path)
    prompts = [list(p) for p in splits["train"]["prompt"]]
    policy, value, reward = load_ppo_models(
        policy_adapter=policy_adapter,
        reward_adapter=reward_adapter,
        hardware=hardware,
        peft=job.config["peft"],
    )
    quantized = is_4bit(policy)
    trainable, total = policy.get_nb_trainable_parameters()
    resolved = {
        **job.config,
        "hardware": hardware,
        "ppo": asdict(config),
        "quantization": "nf4 4-bit" if quantized else "none",
    }
    if main:
        job_record(
            job_id=job.pk,
            config=resolved,
            hardware=hardware,
            trainable_params=trainable,
            total_params=total,
            data_report={"prompts": {"train": len(prompts)}},
        )
    samples_all: list[dict] = []
    started = time.monotonic()
    state = {"start": 0}

    def on_step(step: int, metrics: dict, samples: list[dict]) -> bool:
        if not main:  # the main process writes the rows; the others only heed a cancel
            flag = TrainingJob.objects.filter(pk=job.pk).values_list("cancel_requested", flat=True)
            return bool(flag.first())
        metrics = {**metrics, **{f"time/{k}": v for k, v in trainer.timings.items()}}
        metric_points_record_steps(job_id=job.pk, steps=[(step, metrics)])
        if samples:
            samples_all.extend(samples)
            job_record(
                job_id=job.pk,
                data_report={"prompts": {"train": len(prompts)}, "samples": samples_all[-20:]},
            )
        done = step - state["start"]
        per_step = (time.monotonic() - started) / done if done else None
        for callback in callbacks or []:
            callback(step, metrics)
        return job_progress(
            job_id=job.pk, step=step, total_steps=config.total_steps, seconds_per_step=per_step
        )

    trainer = PPOTrainer(
        config=config,
        policy=policy,
        value_model=value,
        reward_model=reward,
        tokenizer=tokenizer,
        prompts=prompts,
        on_step=on_step,
        main_process=main,
    )
    checkpoint = last_complete_checkpoint(config.output_dir, marker="state.pt")
    if checkpoint:
        trainer.load(Path(checkpoint))
        state["start"] = trainer.step_count
        if main:
            job_record(job_id=job.pk, resumed_from_step=trainer.step_count)
    if main:
        job_record(job_id=job.pk, total_steps=config.total_steps)
    finished = trainer.train()
    if main:
        job_record(job_id=job.pk, peak_memory_bytes=peak_memory_bytes(hardware))
    if not finished:
        return run_cancelled(job=job)
    return save_adapter(
        job=job,
        save=lambda folder: policy.save_pretrained(str(folder)),
        tokenizer=tokenizer,
        resolved=resolved,
        method=policy_method(policy_adapter, quantized=quantized),
        base_model=policy_adapter.base_model,
    )
