"""Prompt ensembles: several soft prompts trained for one task on one frozen base, used together.

A prompt-tuning SFT job with `ensemble_size` > 1 (training/ensemble_train.py) leaves one adapter
folder holding `member-0/`, `member-1/`... (each a loadable PEFT prompt-tuning adapter), the
tokenizer, and `ensemble.json`, the manifest: members with their seeds, inits and losses, and the
ensemble's own validation loss.

`PromptEnsemble` loads the base once and every member's soft prompt by name, and runs all members
in one batched forward (a member is its virtual-token embeddings in front of the same input):

- scoring: a completion's ensemble score is the average over members of the member's mean token
  log-likelihood of the completion, with the per-member scores beside it;
- choices: each member picks the option it scores highest; the answer is the majority, ties
  broken by the averaged score, with the vote counts;
- generation: greedy or sampled decoding from the average of the members' next-token
  log-probabilities (logit ensembling), under a max_new_tokens limit.

The plan of the members and the vote are pure Python (the web pages read them); everything
that needs torch, transformers or peft imports it inside the function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.errors import DomainError

MANIFEST = "ensemble.json"
MEMBER_DONE = "member.json"  # written into a member's folder once it is trained

ERROR_NOT_ENSEMBLE = "{path} is not a prompt ensemble: it has no ensemble.json."
ERROR_MEMBER_METHOD = (
    "Member {name} is a {peft_type} adapter; an ensemble holds prompt tuning only."
)
ERROR_MEMBER_SHAPE = (
    "Member {name} has soft prompt shape {shape}; the first member has {expected}: "
    "members must share the number of virtual tokens and the base model."
)
ERROR_OPTIONS = "A choice needs at least two options."
ERROR_NO_MEMBERS = "An ensemble needs at least one member."


class EnsembleError(DomainError):
    pass


# --------------------------------------------------------------------------- pure helpers


def member_plan(peft: dict[str, Any], *, seed: int) -> list[dict[str, Any]]:
    """Who the members are: member i trains with seed + i and starts from the i-th init text
    when one is given, otherwise from the job's own init (random, or its init text)."""
    texts = peft.get("ensemble_init_texts") or []
    members = []
    for i in range(int(peft.get("ensemble_size", 1))):
        own = texts[i] if i < len(texts) else ""
        if own:
            init, init_text = "text", own
        else:
            init = peft.get("init", "random")
            init_text = peft.get("init_text") if init == "text" else None
        members.append(
            {
                "index": i,
                "name": f"member-{i}",
                "seed": seed + i,
                "init": init,
                "init_text": init_text,
            }
        )
    return members


def member_metric(index: int, name: str) -> str:
    """The metric name of one member's value: `member/<i>/loss`, `member/<i>/eval/loss`."""
    return f"member/{index}/{name}"


def member_summary(series: dict[str, list[tuple[int, float]]], index: int) -> dict[str, Any]:
    """Final training loss, final and best validation loss of one member, from its metrics."""
    loss = series.get(member_metric(index, "loss"), [])
    evals = series.get(member_metric(index, "eval/loss"), [])
    best = min(evals, key=lambda point: point[1]) if evals else None
    return {
        "steps": max([s for s, _ in loss] + [s for s, _ in evals], default=0),
        "final_loss": loss[-1][1] if loss else None,
        "final_eval_loss": evals[-1][1] if evals else None,
        "best_eval_loss": best[1] if best else None,
        "best_eval_step": best[0] if best else None,
    }


@dataclass(frozen=True)
class Vote:
    """The ensemble's pick among options: `answer` indexes the options."""

    answer: int
    votes: list[int]  # per option: how many members picked it
    picks: list[int]  # per member: the option it scored highest
    averaged: list[float]  # per option: the score averaged over members


def majority_vote(member_scores: list[list[float]]) -> Vote:
    """`member_scores[m][o]` is member m's score of option o. Each member votes for its best
    option (the first one on a tie); the most votes win, and a tie between options in votes
    goes to the one with the higher averaged score."""
    if not member_scores:
        raise EnsembleError(ERROR_NO_MEMBERS)
    options = len(member_scores[0])
    if options < 2:
        raise EnsembleError(ERROR_OPTIONS)
    picks = [max(range(options), key=lambda o, row=row: (row[o], -o)) for row in member_scores]
    votes = [picks.count(o) for o in range(options)]
    averaged = [sum(row[o] for row in member_scores) / len(member_scores) for o in range(options)]
    answer = max(range(options), key=lambda o: (votes[o], averaged[o], -o))
    return Vote(answer=answer, votes=votes, picks=picks, averaged=averaged)


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def manifest_read(path: str | Path) -> dict[str, Any]:
    if not is_ensemble(path):
        raise EnsembleError(ERROR_NOT_ENSEMBLE.format(path=path))
    return json.loads((Path(path) / MANIFEST).read_text())


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class Score:
    score: float  # the average of the member scores
    member_scores: list[float]  # mean token log-likelihood of the completion, per member
    tokens: int  # completion tokens scored


@dataclass(frozen=True)
class Choice:
    answer: int
    option: str
    votes: list[int]
    picks: list[int]
    averaged: list[float]
    member_scores: list[list[float]]  # [member][option]


class PromptEnsemble:
    """One base model in memory and each member's soft prompt, by name."""

    def __init__(
        self,
        *,
        base,
        tokenizer,
        members: dict[str, str | Path],
        chat_template: str | None = None,
    ):
        import torch
        from peft import PeftConfig, PeftType, load_peft_weights

        if not members:
            raise EnsembleError(ERROR_NO_MEMBERS)
        self.base = base
        self.tokenizer = tokenizer
        self.names = list(members)
        if chat_template is None:
            from trl.chat_template_utils import get_training_chat_template, has_generation_markers

            if not has_generation_markers(tokenizer.chat_template):
                chat_template = get_training_chat_template(tokenizer)
        # Scoring masks the completion with the template's generation markers, as training did.
        self.chat_template = chat_template
        device = base.get_input_embeddings().weight.device
        dtype = base.get_input_embeddings().weight.dtype
        prompts = []
        for name, path in members.items():
            config = PeftConfig.from_pretrained(str(path))
            if config.peft_type != PeftType.PROMPT_TUNING:
                raise EnsembleError(
                    ERROR_MEMBER_METHOD.format(name=name, peft_type=config.peft_type.value)
                )
            prompt = load_peft_weights(str(path), device=str(device))["prompt_embeddings"]
            if prompts and prompt.shape != prompts[0].shape:
                raise EnsembleError(
                    ERROR_MEMBER_SHAPE.format(
                        name=name, shape=tuple(prompt.shape), expected=tuple(prompts[0].shape)
                    )
                )
            prompts.append(prompt)
        self.prompts = torch.stack(prompts).to(device=device, dtype=dtype)  # [members, V, H]
        self.virtual_tokens = self.prompts.shape[1]
        ids = {tokenizer.eos_token_id}
        eos = getattr(base.generation_config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        self.eos_ids = sorted(i for i in ids if i is not None)

    @classmethod
    def load(
        cls, path: str | Path, *, base=None, tokenizer=None, device: str = "cpu"
    ) -> PromptEnsemble:
        """An ensemble adapter folder; pass `base` (and its tokenizer) to share a loaded model."""
        manifest = manifest_read(path)
        if base is None:
            from transformers import AutoModelForCausalLM

            base = AutoModelForCausalLM.from_pretrained(manifest["base_model"]).to(device)
            base.eval()
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path))
        members = {m["name"]: Path(path) / m["path"] for m in manifest["members"]}
        return cls(base=base, tokenizer=tokenizer, members=members)

    def __len__(self) -> int:
        return len(self.names)

    # -- forward

    def _forward(self, input_ids, *, use_cache: bool = False):
        """All members at once: row m is member m's soft prompt in front of `input_ids`."""
        import torch

        embeds = self.base.get_input_embeddings()(input_ids)  # [1, T, H]
        n = len(self.names)
        inputs = torch.cat([self.prompts, embeds.expand(n, -1, -1)], dim=1)
        return self.base(inputs_embeds=inputs, use_cache=use_cache)

    def log_probs(self, ids: list[int]):
        """[members, T-1, vocab] float32 log-probabilities; position t predicts ids[t + 1]."""
        import torch

        device = self.prompts.device
        with torch.no_grad():
            logits = self._forward(torch.tensor([ids], device=device)).logits
        return torch.log_softmax(logits[:, self.virtual_tokens : -1].float(), dim=-1)

    def _completion_ids(
        self, messages: list[dict], completion: str
    ) -> tuple[list[int], list[bool]]:
        tok = self.tokenizer
        prompt = tok.apply_chat_template(
            messages,
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        full = tok.apply_chat_template(
            [*messages, {"role": "assistant", "content": completion}],
            chat_template=self.chat_template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        # The last assistant turn only: earlier assistant turns belong to the question.
        mask = [bool(m) and i >= len(prompt) for i, m in enumerate(full["assistant_masks"])]
        return list(full["input_ids"]), mask

    def _token_scores(self, ids: list[int], mask: list[bool]):
        """Per-member log-likelihood of each masked target token, and the log-likelihood under
        the averaged distribution (what generation decodes from): ([members, K], [K])."""
        import torch

        logp = self.log_probs(ids)
        targets = torch.tensor(ids[1:], device=logp.device)
        keep = torch.tensor(mask[1:], device=logp.device)
        member = logp.gather(-1, targets[None, :, None].expand(len(self), -1, 1))[..., 0]
        mixed = torch.log_softmax(logp.mean(0), dim=-1).gather(-1, targets[:, None])[:, 0]
        return member[:, keep], mixed[keep]

    # -- scoring and choices

    def score(self, messages: list[dict], completion: str) -> Score:
        """The ensemble score of `completion` as the answer to `messages`."""
        ids, mask = self._completion_ids(messages, completion)
        member, _ = self._token_scores(ids, mask)
        per_member = member.mean(dim=1).tolist()
        return Score(
            score=sum(per_member) / len(per_member),
            member_scores=per_member,
            tokens=int(member.shape[1]),
        )

    def choose(self, messages: list[dict], options: list[str]) -> Choice:
        """Multiple choice: every member votes for the option it scores highest."""
        if len(options) < 2:
            raise EnsembleError(ERROR_OPTIONS)
        scores = [self.score(messages, option) for option in options]
        member_scores = [[s.member_scores[m] for s in scores] for m in range(len(self))]
        vote = majority_vote(member_scores)
        return Choice(
            answer=vote.answer,
            option=options[vote.answer],
            votes=vote.votes,
            picks=vote.picks,
            averaged=vote.averaged,
            member_scores=member_scores,
        )

    def eval_loss(self, rows, *, max_length: int | None = None) -> dict[str, Any]:
        """Validation loss of the ensemble on tokenized rows (`input_ids`, `labels` with -100 off
        the assistant tokens, as training used them), truncated like the trainer does:

        - `scored_loss`: minus the mean over rows of the ensemble score (the averaged member
          scores), the loss of the ensemble as a scorer;
        - `decoding_loss`: token NLL under the averaged log-probabilities renormalized, the
          distribution generation decodes from (never above `mean_member_loss`);
        - `member_losses` / `mean_member_loss`: each member's token NLL, measured the same way.
        """
        scored, mixed_sum, tokens, row_count = 0.0, 0.0, 0, 0
        member_sums = [0.0] * len(self)
        for row in rows:
            ids = list(row["input_ids"])[:max_length]
            labels = list(row["labels"])[:max_length]
            mask = [label != -100 for label in labels]
            if not any(mask[1:]):
                continue
            member, mixed = self._token_scores(ids, mask)
            row_count += 1
            tokens += int(mixed.shape[0])
            scored += float(member.mean(dim=1).mean())
            mixed_sum += float(mixed.sum())
            for m, value in enumerate(member.sum(dim=1).tolist()):
                member_sums[m] += value
        if not tokens:
            return {"rows": 0, "tokens": 0}
        member_losses = [-s / tokens for s in member_sums]
        return {
            "rows": row_count,
            "tokens": tokens,
            "scored_loss": -scored / row_count,
            "decoding_loss": -mixed_sum / tokens,
            "member_losses": member_losses,
            "mean_member_loss": sum(member_losses) / len(member_losses),
        }

    # -- generation

    def generate(self, messages: list[dict], **options: Any) -> str:
        """The decoded answer of `generate_ids`."""
        ids = self.generate_ids(messages, **options)
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def generate_ids(
        self,
        messages: list[dict],
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        min_new_tokens: int = 0,
        generator=None,
    ) -> list[int]:
        """New token ids decoded from the members' averaged next-token log-probabilities:
        greedy when temperature is 0, else sampled (temperature, top-p) from a seeded
        generator; stops at eos (not returned) or after max_new_tokens."""
        import torch

        device = self.prompts.device
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        if generator is None:
            generator = torch.Generator().manual_seed(seed)
        new: list[int] = []
        with torch.no_grad():
            out = self._forward(torch.tensor([ids], device=device), use_cache=True)
            for step in range(max_new_tokens):
                logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1).mean(dim=0)
                if step < min_new_tokens:
                    logp[self.eos_ids] = float("-inf")
                token = _pick(logp, temperature=temperature, top_p=top_p, generator=generator)
                if token in self.eos_ids:
                    break
                new.append(token)
                step_ids = torch.full((len(self), 1), token, device=device)
                out = self.base(
                    input_ids=step_ids, past_key_values=out.past_key_values, use_cache=True
                )
        return new

    def sample(self, messages: list[dict], *, k: int, sampling) -> list[str]:
        """K answers with generate_job's `Sampling` settings, one seeded generator for all."""
        import torch

        generator = torch.Generator().manual_seed(sampling.seed)
        return [
            self.generate(
                messages,
                max_new_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                min_new_tokens=sampling.min_new_tokens,
                generator=generator,
            )
            for _ in range(k)
        ]


def _pick(logp, *, temperature: float, top_p: float, generator) -> int:
    import torch

    if temperature <= 0:
        return int(torch.argmax(logp))
    probs = torch.softmax(logp / temperature, dim=-1).cpu()
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest head of the distribution whose mass reaches top_p.
        drop = torch.cumsum(sorted_probs, dim=0) - sorted_probs >= top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
