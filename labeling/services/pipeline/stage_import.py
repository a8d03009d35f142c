"""The import and filter stages: read, redact, filter, tag with rules, store; refilter."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from labeling.models import (
    PipelineRun,
    Project,
    Prompt,
    PromptStatus,
)
from labeling.pipeline.filters import Funnel, default_filters
from labeling.pipeline.readers import PromptReader
from labeling.pipeline.records import (
    RowError,
    prompt_payload,
)
from labeling.pipeline.tagging import tag_rules
from labeling.services.prompts import prompt_bulk_create

from .runs import (
    BATCH,
    ERROR_FILE_MISSING,
    ERROR_REJECTED,
    PROGRESS_EVERY,
    SAMPLE_REJECTS,
    TAGGED_BY_RULES,
    TAGGED_BY_SOURCE,
    PipelineRunError,
    _funnel,
    _labels,
    _parsed,
    _progress,
    _user_text,
)


def _import(run: PipelineRun) -> None:
    project = run.project
    params = run.params
    path = Path(run.input_path)
    if not path.is_file():
        raise PipelineRunError(ERROR_FILE_MISSING.format(name=run.input_name))
    since = datetime.fromisoformat(params["since"]) if params.get("since") else None
    fmt = params.get("format") or None

    # Pass 1: validate and count, constant memory. All or nothing stops here.
    reader = PromptReader(path, format=fmt, since=since)
    rejects: list[dict[str, Any]] = []
    reject_count = 0
    rows = 0
    for item in reader:
        rows += 1
        if isinstance(item, RowError):
            reject_count += 1
            if len(rejects) < SAMPLE_REJECTS:
                rejects.append({"line": item.line, "reason": item.reason})
    run.rejects = rejects
    run.total = rows
    run.counts = {"rows": rows, "rejected": reject_count, "too_old": reader.skipped_old}
    if reject_count and not params.get("skip_invalid"):
        first = rejects[0]
        raise PipelineRunError(
            ERROR_REJECTED.format(count=reject_count, line=first["line"], reason=first["reason"])
        )
    run.save(update_fields=["rejects", "total", "counts"])
    _progress(run, 0)

    # Pass 2: redact, filter, tag, store in batches (filtered ones with their reasons).
    existing = Prompt.objects.filter(project=project)
    known_hashes = set(existing.values_list("content_hash", flat=True))
    known_texts = [
        _user_text(m)
        for m in existing.filter(status=PromptStatus.ACTIVE).values_list("messages", flat=True)
    ]
    funnel = _funnel(project, params.get("filters") or {}, known=known_texts)
    labels = _labels(project)
    counts: Counter[str] = Counter(kept=0, filtered=0, duplicates=0, prompts=0, completions=0)
    reader = PromptReader(path, format=fmt, since=since)
    batch: list[dict[str, Any]] = []
    done = 0
    for item in reader:
        done += 1
        if isinstance(item, RowError):
            continue
        digest = item.content_hash
        if digest in known_hashes:
            counts["duplicates"] += 1
            continue
        known_hashes.add(digest)
        verdict = funnel.check(item)
        prompt = verdict.prompt
        if verdict.pii:
            # Stored prompts are redacted: a re-import of one is a duplicate only after redaction.
            # (PII only in meta leaves the hash as it was.)
            redacted = prompt.content_hash
            if redacted != digest and redacted in known_hashes:
                counts["duplicates"] += 1
                continue
            known_hashes.add(redacted)
        if prompt.task_type not in labels:
            prompt.task_type = tag_rules(prompt.text, labels=labels).task_type
            prompt.meta.update({"tagged_by": TAGGED_BY_RULES, "rule_task_type": prompt.task_type})
        else:
            prompt.meta["tagged_by"] = TAGGED_BY_SOURCE  # the file named it (MT-Bench category)
        payload = prompt_payload(prompt)
        if verdict.pii:
            payload["meta"]["pii"] = verdict.pii
        if not verdict.kept:
            payload["status"] = PromptStatus.FILTERED
            payload["filter_reasons"] = [
                {
                    "filter": verdict.filter,
                    "code": verdict.reason.code,
                    "detail": str(verdict.reason),
                }
            ]
            counts["filtered"] += 1
        else:
            counts["kept"] += 1
        batch.append(payload)
        if len(batch) >= BATCH:
            _store(project, batch, counts)
            batch = []
        if done % PROGRESS_EVERY == 0:
            _progress(run, done)
    if batch:
        _store(project, batch, counts)
    _progress(run, done)
    run.counts = {**run.counts, **counts}
    run.funnel = funnel.report.as_dict()


def _store(project: Project, batch: list[dict[str, Any]], counts: Counter[str]) -> None:
    stored = prompt_bulk_create(project=project, prompts=batch)
    counts["prompts"] += len(stored)
    counts["completions"] += sum(len(p["completions"]) for p in batch)


def _filter(run: PipelineRun) -> None:
    project = run.project
    active = Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE).order_by("id")
    total = active.count()
    _progress(run, 0, total)
    # Stored prompts were redacted on import; a second redaction would change their hash.
    funnel = Funnel(default_filters(**(run.params.get("filters") or {})), redact_pii=False)
    removed: list[Prompt] = []
    done = 0
    for prompt in active.iterator(chunk_size=BATCH):
        done += 1
        verdict = funnel.check(_parsed(prompt))
        if not verdict.kept:
            prompt.status = PromptStatus.FILTERED
            prompt.filter_reasons = [
                *prompt.filter_reasons,
                {
                    "filter": verdict.filter,
                    "code": verdict.reason.code,
                    "detail": str(verdict.reason),
                },
            ]
            removed.append(prompt)
        if done % PROGRESS_EVERY == 0:
            _progress(run, done)
    Prompt.objects.bulk_update(removed, ["status", "filter_reasons"], batch_size=BATCH)
    run.done = done
    run.counts = {"seen": total, "filtered": len(removed), "kept": total - len(removed)}
    run.funnel = funnel.report.as_dict()
