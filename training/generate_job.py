"""Generate candidates for labelers: K completions per prompt of a prompts snapshot from one or
more adapters (or the bare base), stored as `Completion` rows naming the adapter, and
optionally ranking tasks over them, so a new policy's outputs go straight back to labelers.

The base is loaded once; adapters are attached with PEFT `load_adapter` and switched with
`set_adapter` (the bare base runs under `disable_adapter()`), never by reloading the model.

Worker-side code: torch, transformers and peft are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flywheel.errors import DomainError

ERROR_NO_SOURCES = "Choose at least one adapter or the base model to generate with."
ERROR_MIXED_BASES = "All adapters must share one base model; got {bases}."
ERROR_SNAPSHOT_KIND = "Generation reads a prompts snapshot; this one is {kind}."
ERROR_K = "Completions per prompt must be between 1 and 16."
BASE = "base"


class GenerateError(DomainError):
    pass


@dataclass
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0
    min_new_tokens: int = 0


class AdapterSwitcher:
    """One base model in memory with several named adapters attached to it."""

    def __init__(self, base_model: str, adapters: dict[str, str], *, device: str = "cpu"):
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        self.base = AutoModelForCausalLM.from_pretrained(base_model).to(device)
        self.model = None
        for name, path in adapters.items():
            if self.model is None:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name)
            else:
                self.model.load_adapter(path, adapter_name=name)
        if self.model is not None:
            self.model.eval()
        self.base.eval()

    def generate(self, name: str, messages: list[dict], *, k: int, sampling: Sampling) -> list[str]:
        import contextlib

        import torch

        tok = self.tokenizer
        inputs = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.base.device)
        if name == BASE:
            model = self.model or self.base
            context = self.model.disable_adapter() if self.model else contextlib.nullcontext()
        else:
            self.model.set_adapter(name)
            model, context = self.model, contextlib.nullcontext()
        torch.manual_seed(sampling.seed)
        with torch.no_grad(), context:
            out = model.generate(
                **inputs,
                max_new_tokens=sampling.max_new_tokens,
                min_new_tokens=sampling.min_new_tokens or None,
                do_sample=sampling.temperature > 0,
                temperature=sampling.temperature if sampling.temperature > 0 else None,
                top_p=sampling.top_p,
                num_return_sequences=k,
                pad_token_id=tok.pad_token_id,
            )
        width = inputs["input_ids"].shape[1]
        return [tok.decode(row[width:], skip_special_tokens=True).strip() for row in out]


def completions_generate(
    *,
    snapshot,
    adapters: list,
    include_base: bool = False,
    base_model: str = "",
    k: int = 2,
    sampling: Sampling | None = None,
    create_ranking_tasks: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Sample K completions per prompt from each adapter (and the base when asked), store them
    through labeling's services, and optionally one ranking task per prompt over all of them."""
    from django.db import transaction

    from labeling.services import completion_bulk_create, task_bulk_create

    from .sft import snapshot_load

    if snapshot.kind != "prompts":
        raise GenerateError(ERROR_SNAPSHOT_KIND.format(kind=snapshot.kind))
    if not adapters and not include_base:
        raise GenerateError(ERROR_NO_SOURCES)
    if not 1 <= k <= 16:
        raise GenerateError(ERROR_K)
    bases = {a.base_model for a in adapters} | ({base_model} if base_model else set())
    if len(bases) != 1:
        raise GenerateError(ERROR_MIXED_BASES.format(bases=", ".join(sorted(bases))))
    base = bases.pop()
    sampling = sampling or Sampling()
    names = {f"adapter-{a.pk}": a for a in adapters}
    switcher = AdapterSwitcher(base, {n: a.path for n, a in names.items()})
    sources = [*names, *([BASE] if include_base else [])]

    rows = snapshot_load(snapshot.path)["train"]
    if limit:
        rows = rows.select(range(min(limit, len(rows))))
    items = []
    for row in rows:
        prompt_id = int(row.get("prompt_id") or row["id"])
        for source in sources:
            texts = switcher.generate(source, list(row["prompt"]), k=k, sampling=sampling)
            adapter = names.get(source)
            for index, text in enumerate(texts):
                items.append(
                    {
                        "prompt": prompt_id,
                        "text": text,
                        "model_name": adapter.name if adapter else f"{base} (base)",
                        "params": {**sampling.__dict__, "k": k},
                        "meta": {
                            "adapter_id": adapter.pk if adapter else None,
                            "job_id": adapter.job_id if adapter else None,
                            "sample": index,
                            "snapshot_id": snapshot.pk,
                        },
                    }
                )
    with transaction.atomic():
        completions = completion_bulk_create(project=snapshot.project, completions=items)
        tasks = []
        if create_ranking_tasks:
            by_prompt: dict[int, list[int]] = {}
            for completion in completions:
                by_prompt.setdefault(completion.prompt_id, []).append(completion.pk)
            tasks = task_bulk_create(
                project=snapshot.project,
                tasks=[
                    {
                        "kind": "ranking",
                        "prompt": prompt_id,
                        "completions": ids,
                        "source": {
                            "kind": "generate",
                            "snapshot_id": snapshot.pk,
                            "adapters": [a.pk for a in adapters],
                        },
                    }
                    for prompt_id, ids in by_prompt.items()
                    if len(ids) >= 2
                ],
            )
    return {"completions": len(completions), "tasks": len(tasks), "sources": sources}
