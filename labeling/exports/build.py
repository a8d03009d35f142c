"""Snapshot services: create (validate the recipe, fail fast on an empty selection, enqueue)
and build (stream rows to JSONL while hashing, then the `datasets` copy and the card).

The content hash is sha256 over the normal-form recipe and the bytes of each split's JSONL,
so the same recipe on the same data gives the same hash, and the folder is named by it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.exports.card import card_text
from labeling.exports.recipe import Recipe, RecipeError, recipe_parse
from labeling.exports.rows import RowStream, funnel_counts, totals_by_task_type
from labeling.exports.split import StratifiedSplitter
from labeling.models import DatasetSnapshot, Project, Role, SnapshotStatus
from labeling.selectors import project_get_for_user

ERROR_EMPTY = (
    "The recipe selects nothing: {filter} left no {unit}. Counts before each filter: {counts}."
)
ERROR_EMPTY_AFTER_RULES = (
    "The recipe selects nothing: {filter} left no rows. Counts before each filter: {counts}."
)
ERROR_NOT_BUILDING = "Snapshot {id} is {status}; snapshots are built once and never edited."
ERROR_NAME = "Give the snapshot a name."


class SnapshotError(DomainError):
    pass


def snapshots_root() -> Path:
    return Path(settings.FLYWHEEL_ARTIFACT_DIR) / "snapshots"


def _counts_text(funnel: list[dict[str, Any]]) -> str:
    return "; ".join(f"{step['filter']}: {step['count']}" for step in funnel)


def _empty_error(unit: str, funnel: list[dict[str, Any]]) -> str | None:
    """The message for the first filter that emptied the selection, or None."""
    gold = [s for s in funnel if s["filter"].startswith("gold answers")]
    if gold and gold[0]["count"] > 0:
        return None
    steps = [s for s in funnel if not s["filter"].startswith("gold answers")]
    for step in steps:
        if step["count"] == 0:
            return ERROR_EMPTY.format(
                filter=f"`{step['filter']}`", unit=unit, counts=_counts_text(funnel)
            )
    return None


def recipe_check(
    *, project: Project, recipe: Mapping[str, Any], user: AbstractBaseUser | None = None
) -> tuple[Recipe, list[dict[str, Any]]]:
    """The recipe's normal form and its funnel; raises RecipeError when it is not valid or
    selects nothing. With `user`, they must be a researcher in every project it reads."""
    parsed = recipe_parse(recipe, project_id=project.pk)
    if user is not None:
        for project_id in parsed.projects[1:]:
            project_get_for_user(user=user, project_id=project_id, roles=[Role.RESEARCHER])
    unit, funnel = funnel_counts(parsed)
    message = _empty_error(unit, funnel)
    if message:
        raise RecipeError(message)
    return parsed, funnel


def snapshot_create(
    *,
    project: Project,
    name: str,
    recipe: Mapping[str, Any],
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> DatasetSnapshot:
    """Validate the recipe, check the selection is not empty, and enqueue the build (unless
    the caller builds it itself, as `manage.py build_snapshot` does).

    With `created_by`, the user must be a researcher in every project the recipe reads."""
    if not name or not name.strip():
        raise SnapshotError(ERROR_NAME)
    parsed, funnel = recipe_check(project=project, recipe=recipe, user=created_by)
    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.create(
            project=project,
            name=name.strip(),
            kind=parsed.kind,
            recipe=parsed.as_dict(),
            created_by=created_by,
            stats={"funnel": funnel},
        )
        snapshot_id = snapshot.pk

        def enqueue_build() -> None:
            from labeling.exports.tasks import snapshot_build_task

            snapshot_build_task.enqueue(snapshot_id=snapshot_id)

        if enqueue:
            transaction.on_commit(enqueue_build)
    return snapshot


def snapshot_build(*, snapshot: DatasetSnapshot) -> DatasetSnapshot:
    """Build a snapshot that is still building; it ends ready or failed (with the error)."""
    snapshot = DatasetSnapshot.objects.get(pk=snapshot.pk)
    if snapshot.status != SnapshotStatus.BUILDING:
        raise SnapshotError(ERROR_NOT_BUILDING.format(id=snapshot.pk, status=snapshot.status))
    try:
        _build(snapshot)
    except DomainError as error:
        _fail(snapshot, str(error))
    except Exception as error:
        _fail(snapshot, f"{type(error).__name__}: {error}")
        raise
    snapshot.refresh_from_db()
    return snapshot


def _fail(snapshot: DatasetSnapshot, message: str) -> None:
    shutil.rmtree(snapshots_root() / f".build-{snapshot.pk}", ignore_errors=True)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
        status=SnapshotStatus.FAILED, error=message, finished_at=timezone.now()
    )


def _build(snapshot: DatasetSnapshot) -> None:
    recipe = recipe_parse(snapshot.recipe)
    unit, funnel = funnel_counts(recipe)
    message = _empty_error(unit, funnel)
    if message:
        raise RecipeError(message)
    totals = totals_by_task_type(recipe)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(prompts_total=sum(totals.values()))
    splitter = StratifiedSplitter(
        totals=totals, fraction=recipe.validation_fraction, seed=recipe.seed
    )
    stream = RowStream(recipe)
    work = snapshots_root() / f".build-{snapshot.pk}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hashers = {s: hashlib.sha256() for s in ("train", "validation")}
    split_counts: Counter[str] = Counter()
    type_counts: dict[str, Counter[str]] = {"train": Counter(), "validation": Counter()}
    prompts_done = rows_done = 0
    with (
        (work / "train.jsonl").open("wb") as train,
        (work / "validation.jsonl").open("wb") as validation,
        (work / "routed_out.jsonl").open("wb") as routed,
    ):
        handles = {"train": train, "validation": validation}
        for task_type, rows in stream.prompts():
            split = splitter.next(task_type)
            for row in rows:
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                handles[split].write(line)
                hashers[split].update(line)
            split_counts[split] += len(rows)
            type_counts[split][task_type] += len(rows)
            rows_done += len(rows)
            for entry in stream.routed_out:
                routed.write((json.dumps(entry) + "\n").encode())
            stream.routed_out.clear()
            prompts_done += 1
            if prompts_done % 1000 == 0:
                DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
                    prompts_done=prompts_done, rows_done=rows_done
                )
    stats = {"funnel": funnel, "rules": dict(sorted(stream.counts.items()))}
    if rows_done == 0:
        steps = funnel + [{"filter": k, "count": v} for k, v in stats["rules"].items()]
        removed = {k: v for k, v in stats["rules"].items() if k not in ("pairs", "ties_kept")}
        rule = max(removed, key=removed.get) if removed else "the recipe's rules"
        raise RecipeError(
            ERROR_EMPTY_AFTER_RULES.format(filter=f"`{rule}`", counts=_counts_text(steps))
        )
    splits = [s for s in ("train", "validation") if split_counts[s]]
    for split in ("train", "validation"):
        if not split_counts[split]:
            (work / f"{split}.jsonl").unlink()
    if not (work / "routed_out.jsonl").stat().st_size:
        (work / "routed_out.jsonl").unlink()
    outer = hashlib.sha256(json.dumps(recipe.as_dict(), sort_keys=True).encode())
    for split in splits:
        outer.update(f"\n{split}:{hashers[split].hexdigest()}".encode())
    content_hash = outer.hexdigest()
    _write_hf(work, recipe, splits, hashers)
    row_counts = {s: split_counts[s] for s in splits}
    by_type: Counter[str] = Counter()
    for split in splits:
        by_type.update(type_counts[split])
    stats["task_types_per_split"] = {s: dict(sorted(type_counts[s].items())) for s in splits}
    (work / "README.md").write_text(
        card_text(
            name=snapshot.name,
            project=snapshot.project.name,
            recipe=recipe,
            content_hash=content_hash,
            row_counts=row_counts,
            task_type_counts=dict(sorted(by_type.items())),
            stats=stats,
        ),
        encoding="utf-8",
    )
    final = snapshots_root() / content_hash
    if final.exists():
        shutil.rmtree(work)  # the same recipe on the same data: the folder is already there
    else:
        work.rename(final)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
        status=SnapshotStatus.READY,
        content_hash=content_hash,
        path=str(final),
        row_counts=row_counts,
        task_type_counts=dict(sorted(by_type.items())),
        rows_done=rows_done,
        prompts_done=prompts_done,
        stats=stats,
        error="",
        finished_at=timezone.now(),
    )


def _write_hf(work: Path, recipe: Recipe, splits: list[str], hashers: dict) -> None:
    # pyarrow loads here, in the worker, not when the admin or the API import this module.
    from labeling.exports.hf import columns, write_dataset_dict

    write_dataset_dict(
        work / "hf",
        splits={split: work / f"{split}.jsonl" for split in splits},
        spec=columns(kind=recipe.kind, sft_format=recipe.sft_format),
        fingerprints={split: hashers[split].hexdigest() for split in splits},
    )
