"""Generate candidates for labelers: K completions per prompt of a prompts snapshot from one or
more adapters (or the bare base), stored as `Completion` rows naming the adapter, and
optionally ranking tasks over them, so a new policy's outputs go straight back to labelers.

The base is loaded once; adapters are attached with PEFT `load_adapter` and switched with
`set_adapter` (the bare base runs under `disable_adapter()`), never by reloading the model.

`completions_generate` is the one path: called directly (tests, the benchmark) or by a
`generate` job's run (`train_generate`, in the child process of `python -m training.run`),
which adds progress, cooperative cancel between prompts and resume without duplicates.

Worker-side code: torch, transformers and peft are imported inside the functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .generate_config import (
    ERROR_ADAPTER_NOT_FOUND,
    ERROR_K,
    ERROR_MIXED_BASES,
    ERROR_NO_SOURCES,
    ERROR_SNAPSHOT_KIND,
    MAX_K,
    GenerateError,
    ranking_size_check,
    sources_check,
)
from .models import JobStatus, TrainingJob

__all__ = [
    "ERROR_K",
    "ERROR_MIXED_BASES",
    "ERROR_NO_SOURCES",
    "ERROR_SNAPSHOT_KIND",
    "AdapterSwitcher",
    "GenerateError",
    "Sampling",
    "completions_generate",
    "generated_summary",
    "train_generate",
]

ERROR_PROMPTS_MISSING = (
    "The snapshot names prompt {ids} that this project does not have; rebuild the snapshot."
)
BASE = "base"
EMPTY_TEXT = "(the model produced no text)"

# progress(done=prompts done, total=prompts, seconds_per_prompt=...) -> True to stop.
Progress = Callable[..., bool]


@dataclass
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0
    min_new_tokens: int = 0


class AdapterSwitcher:
    """One base model in memory with several named adapters attached to it."""

    def __init__(
        self, base_model: str, adapters: dict[str, str], *, device: str = "cpu", dtype: Any = None
    ):
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .ensemble import PromptEnsemble, is_ensemble

        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        self.base = AutoModelForCausalLM.from_pretrained(base_model, **kwargs).to(device)
        self.model = None
        self.ensembles = {}  # prompt ensembles share the base (training/ensemble.py)
        for name, path in adapters.items():
            if is_ensemble(path):
                self.ensembles[name] = PromptEnsemble.load(
                    path, base=self.base, tokenizer=self.tokenizer
                )
            elif self.model is None:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name)
            else:
                self.model.load_adapter(path, adapter_name=name)
        if self.model is not None:
            self.model.eval()
        self.base.eval()

    def generate(self, name: str, messages: list[dict], *, k: int, sampling: Sampling) -> list[str]:
        import contextlib

        import torch

        if name in self.ensembles:  # its members' soft prompts on the bare base
            with self.model.disable_adapter() if self.model else contextlib.nullcontext():
                return self.ensembles[name].sample(messages, k=k, sampling=sampling)
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


def _device() -> tuple[str, Any]:
    """The GPU of this process (its checkpoint's own dtype), else the CPU in float32."""
    import os

    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}", "auto"
    return "cpu", None


def _prompt_ids(rows) -> list[int]:
    return [int(row.get("prompt_id") or row["id"]) for row in rows]


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
    job_id: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Sample K completions per prompt from each adapter (and the base when asked), store them
    through labeling's services, and optionally one ranking task per prompt over all of them.

    Each prompt's completions and its task are written in one transaction, so a stop (cancel,
    crash) leaves whole prompts behind. With `job_id` the rows carry it (`meta.generate_job_id`,
    `source.generate_job_id`) and prompts that already have completions from that job are
    skipped: a retried job continues instead of duplicating. `progress` is called before the
    first prompt and after each one; when it returns True the run stops there."""
    from django.db import transaction

    from labeling.models import Completion, Prompt
    from labeling.services import completion_bulk_create, task_bulk_create

    from .sft import snapshot_load

    if snapshot.kind != "prompts":
        raise GenerateError(ERROR_SNAPSHOT_KIND.format(kind=snapshot.kind), field="snapshot")
    if not 1 <= k <= MAX_K:
        raise GenerateError(ERROR_K, field="k")
    base = sources_check(adapters=adapters, include_base=include_base, base_model=base_model)
    if create_ranking_tasks:
        ranking_size_check(k=k, sources=len(adapters) + include_base)
    sampling = sampling or Sampling()
    names = {f"adapter-{a.pk}": a for a in adapters}
    sources = [*names, *([BASE] if include_base else [])]
    project = snapshot.project

    rows = snapshot_load(snapshot.path)["train"]
    if limit:
        rows = rows.select(range(min(limit, len(rows))))
    wanted = _prompt_ids(rows)
    known = set(Prompt.objects.filter(project=project, pk__in=wanted).values_list("pk", flat=True))
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise GenerateError(
            ERROR_PROMPTS_MISSING.format(ids=", ".join(map(str, unknown[:5]))), field="snapshot"
        )
    done: set[int] = set()
    if job_id is not None:
        done = set(
            Completion.objects.filter(prompt__project=project, meta__generate_job_id=job_id)
            .values_list("prompt_id", flat=True)
            .distinct()
        )
    total = len(wanted)
    finished = sum(1 for pk in wanted if pk in done)
    skipped = finished
    counts = {source: 0 for source in sources}
    result = {"completions": 0, "tasks": 0, "sources": sources, "per_source": counts,
              "prompts": total, "skipped": skipped, "cancelled": False}  # fmt: skip
    if progress and progress(done=finished, total=total, seconds_per_prompt=None):
        result["cancelled"] = True
        return result
    if finished == total:
        return result

    device, dtype = _device()
    switcher = AdapterSwitcher(
        base, {n: a.path for n, a in names.items()}, device=device, dtype=dtype
    )
    started, fresh = time.monotonic(), 0
    for row, prompt_id in zip(rows, wanted, strict=True):
        if prompt_id in done:
            continue
        items = []
        for source in sources:
            texts = switcher.generate(source, list(row["prompt"]), k=k, sampling=sampling)
            adapter = names.get(source)
            for index, text in enumerate(texts):
                meta = {
                    "adapter_id": adapter.pk if adapter else None,
                    "job_id": adapter.job_id if adapter else None,
                    "sample": index,
                    "snapshot_id": snapshot.pk,
                }
                if job_id is not None:
                    meta["generate_job_id"] = job_id
                if not text:  # a real outcome labelers should rank; a Completion needs text
                    meta["empty"] = True
                items.append(
                    {
                        "prompt": prompt_id,
                        "text": text or EMPTY_TEXT,
                        "model_name": adapter.name if adapter else f"{base} (base)",
                        "params": {**sampling.__dict__, "k": k},
                        "meta": meta,
                    }
                )
                counts[source] += 1
        with transaction.atomic():
            completions = completion_bulk_create(project=project, completions=items)
            if create_ranking_tasks:
                source_row = {"kind": "generate", "snapshot_id": snapshot.pk,
                              "adapters": [a.pk for a in adapters]}  # fmt: skip
                if job_id is not None:
                    source_row["generate_job_id"] = job_id
                task_bulk_create(
                    project=project,
                    tasks=[{"kind": "ranking", "prompt": prompt_id,
                            "completions": [c.pk for c in completions], "source": source_row}],
                )  # fmt: skip
                result["tasks"] += 1
        result["completions"] += len(completions)
        done.add(prompt_id)
        finished, fresh = finished + 1, fresh + 1
        per_prompt = (time.monotonic() - started) / fresh
        if progress and progress(done=finished, total=total, seconds_per_prompt=per_prompt):
            result["cancelled"] = finished < total
            break
    return result


# --------------------------------------------------------------------------- the job


def generated_summary(*, job: TrainingJob) -> dict[str, Any]:
    """What a generate job has stored over all its attempts: completions per source, ranking
    tasks, prompts covered. Read once when the run ends and kept in `data_report`."""
    from django.db.models import Count
    from django.db.models.fields.json import KeyTextTransform

    from labeling.models import Completion, Task

    from .models import Adapter

    mine = Completion.objects.filter(
        prompt__project_id=job.project_id, meta__generate_job_id=job.pk
    )
    # The id comes back as a number or as text, and the base's null as NULL or "null",
    # depending on the database.
    by_adapter = {
        None if adapter in (None, "null") else int(adapter): n
        for adapter, n in mine.annotate(adapter=KeyTextTransform("adapter_id", "meta"))
        .values("adapter")
        .annotate(n=Count("id"))
        .values_list("adapter", "n")
    }
    settings = job.config["generate"]
    adapters = {a.pk: a for a in Adapter.objects.filter(pk__in=settings["adapters"])}
    per_source = [
        {
            "source": f"adapter-{pk}",
            "adapter_id": pk,
            "name": adapters[pk].name if pk in adapters else f"adapter {pk}",
            "job_id": adapters[pk].job_id if pk in adapters else None,
            "completions": by_adapter.get(pk, 0),
        }
        for pk in settings["adapters"]
    ]
    if settings["include_base"]:
        per_source.append(
            {"source": BASE, "adapter_id": None, "name": f"{job.base_model} (base)",
             "job_id": None, "completions": by_adapter.get(None, 0)}
        )  # fmt: skip
    tasks = Task.objects.filter(project_id=job.project_id, source__generate_job_id=job.pk)
    return {
        "completions": sum(by_adapter.values()),
        "prompts": mine.values("prompt_id").distinct().count(),
        "tasks": tasks.count(),
        "per_source": per_source,
    }


def train_generate(job: TrainingJob, *, callbacks: list | None = None) -> str:
    """The run of a `generate` job: `completions_generate` with the job's stored settings,
    progress per prompt (step = prompts done), cancel between prompts. `callbacks` is the
    trainers' signature; generation has no trainer to call back."""
    from .models import Adapter
    from .services import job_finish, job_progress, job_record
    from .sft import detect_hardware, is_main_process, peak_memory_bytes

    if not is_main_process():
        return JobStatus.SUCCEEDED  # one process generates; extra ranks under accelerate idle
    settings = job.config["generate"]
    found = {a.pk: a for a in Adapter.objects.filter(pk__in=settings["adapters"])}
    missing = [pk for pk in settings["adapters"] if pk not in found]
    if missing:  # deleted after the job was created
        raise GenerateError(ERROR_ADAPTER_NOT_FOUND.format(pk=missing[0]), field="adapters")
    adapters = [found[pk] for pk in settings["adapters"]]
    hardware = detect_hardware()
    job_record(job_id=job.pk, hardware=hardware)

    def progress(*, done: int, total: int, seconds_per_prompt: float | None) -> bool:
        return job_progress(
            job_id=job.pk, step=done, total_steps=total, seconds_per_step=seconds_per_prompt
        )

    result = completions_generate(
        snapshot=job.snapshot,
        adapters=adapters,
        include_base=settings["include_base"],
        base_model=job.base_model,
        k=settings["k"],
        sampling=Sampling(
            max_new_tokens=settings["max_new_tokens"],
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            seed=settings["seed"],
        ),
        create_ranking_tasks=settings["create_ranking_tasks"],
        limit=settings["limit"],
        job_id=job.pk,
        progress=progress,
    )
    job.refresh_from_db()
    summary = generated_summary(job=job)
    summary["this_attempt"] = {
        "completions": result["completions"],
        "tasks": result["tasks"],
        "skipped_prompts": result["skipped"],
    }
    job_record(
        job_id=job.pk,
        data_report={"generate": summary},
        resumed_from_step=result["skipped"] or None,
        peak_memory_bytes=peak_memory_bytes(hardware),
    )
    status = JobStatus.CANCELLED if result["cancelled"] else JobStatus.SUCCEEDED
    job_finish(job_id=job.pk, status=status)
    return status
