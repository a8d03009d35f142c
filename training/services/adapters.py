from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flywheel.errors import DomainError

from ..models import Adapter, PeftMethod, TrainingJob

ERROR_MERGED = "This adapter is merged already: {path}."
ERROR_MERGE_METHOD = (
    "Only LoRA and DoRA adapters can be merged into the base model; this is {method}."
)


class AdapterError(DomainError):
    pass


def folder_size(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def adapter_create(
    *,
    job: TrainingJob,
    path: str | Path,
    name: str = "",
    method: str | None = None,
    base_model: str | None = None,
) -> Adapter:
    """The result of a job. Owned by the user who launched it, or by the project when no user
    did, so each researcher keeps their own adapters. `method` and `base_model` are what the
    run really trained (a PPO job keeps training its policy adapter on the policy's base, in
    4-bit only on a GPU); they default to the job's."""
    method = PeftMethod(method or job.peft_method)
    return Adapter.objects.create(
        job=job,
        name=name or f"{method.label} · job {job.pk}",
        path=str(path),
        size_bytes=folder_size(path),
        base_model=base_model or job.base_model,
        method=method,
        owner_user=job.created_by,
        owner_project=None if job.created_by_id else job.project,
    )


def adapter_merge_enqueue(*, adapter: Adapter) -> None:
    """Refuse what cannot be merged now; hand the rest to a GPU worker once committed."""
    from django.db import transaction

    if adapter.method not in (PeftMethod.LORA, PeftMethod.DORA):
        raise AdapterError(ERROR_MERGE_METHOD.format(method=adapter.get_method_display()))
    if adapter.merged_path:
        raise AdapterError(ERROR_MERGED.format(path=adapter.merged_path))
    from ..tasks import adapter_merge_run

    transaction.on_commit(lambda: adapter_merge_run.enqueue(adapter_id=adapter.pk))


def adapter_merge(*, adapter: Adapter) -> Adapter:
    """Merge a LoRA/DoRA adapter into its base (`merge_and_unload`) and save the full model
    beside it. Worker-side: loads torch and peft."""
    if adapter.method not in (PeftMethod.LORA, PeftMethod.DORA):
        raise AdapterError(ERROR_MERGE_METHOD.format(method=adapter.get_method_display()))
    from ..generation import adapter_load

    model, tokenizer = adapter_load(
        path=adapter.path, base_model=adapter.base_model, method=adapter.method
    )
    merged = model.merge_and_unload()
    out = Path(f"{adapter.path}-merged")
    # Written beside and renamed into place: two merges of one adapter (a double click) never
    # leave a half-written model where the adapter's merged_path points.
    partial = Path(tempfile.mkdtemp(prefix=f"{out.name}.", dir=out.parent))
    merged.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    Adapter.objects.filter(pk=adapter.pk).update(merged_path=str(out))
    adapter.refresh_from_db()
    return adapter
