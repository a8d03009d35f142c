"""The import and filter stages: read, redact, filter, tag with rules, store; refilter."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from labeling.models import (
    Completion,
    PipelineRun,
    Project,
    Prompt,
    PromptStatus,
)
from labeling.pipeline.filters import (
    REASON_ALREADY_IN_PROJECT,
    REASON_REPEATED_IN_FILE,
    Funnel,
    Reason,
    Verdict,
    default_filters,
)
from labeling.pipeline.progress import ProgressMeter
from labeling.pipeline.readers import PromptReader
from labeling.pipeline.records import (
    RowError,
    normalize_text,
    prompt_payload,
)
from labeling.pipeline.tagging import tag_rules
from labeling.services.prompts import completion_bulk_create, prompt_bulk_create

from .runs import (
    BATCH,
    ERROR_FILE_MISSING,
    ERROR_REJECTED,
    PROGRESS_EVERY,
    PROGRESS_SECONDS,
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

    # Pass 1: validate and count, constant memory. All or nothing stops here. Progress shows
    # the rows read so far against an unknown total ("N of ? rows"); pass 2 counts from 0.
    reader = PromptReader(path, format=fmt, since=since)
    rejects: list[dict[str, Any]] = []
    reject_count = 0
    rows = 0
    reading = ProgressMeter(
        lambda done: _progress(run, done), every=PROGRESS_EVERY, seconds=PROGRESS_SECONDS
    )
    for item in reader:
        rows += 1
        reading.advance()
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
    # A row repeating a stored conversation (same content hash) adds no prompt, but the answers
    # it brings that its prompt lacks are added to it (HH-RLHF pairs one prompt several ways).
    existing = Prompt.objects.filter(project=project)
    in_project = dict(existing.values_list("content_hash", "id"))
    in_file: dict[str, int] = {}  # content hash, as read and as redacted -> line first seen
    known_texts = [
        _user_text(m)
        for m in existing.filter(status=PromptStatus.ACTIVE).values_list("messages", flat=True)
    ]
    funnel = _funnel(project, params.get("filters") or {}, known=known_texts)
    labels = _labels(project)
    counts: Counter[str] = Counter(
        kept=0, filtered=0, duplicates=0, duplicates_in_file=0, duplicates_in_project=0,
        prompts=0, completions=0, completions_on_duplicates=0,
    )  # fmt: skip
    reader = PromptReader(path, format=fmt, since=since)
    batch: list[dict[str, Any]] = []
    answers: dict[str, list[dict[str, Any]]] = {}  # stored hash -> a duplicate's answers
    done = 0
    for item in reader:
        done += 1
        if isinstance(item, RowError):
            continue
        # Stored prompts are redacted: a re-import of one is a duplicate only after redaction.
        # (PII only in meta leaves the hash as it was.)
        prompt, pii = funnel.redact(item)
        duplicate = _duplicate(item.content_hash, prompt.content_hash, in_file, in_project)
        if duplicate is not None:
            reason, stored_hash, where = duplicate
            funnel.duplicate(prompt, reason, pii=pii)
            counts["duplicates"] += 1
            counts[where] += 1
            completions = prompt_payload(prompt)["completions"]
            if completions:
                answers.setdefault(stored_hash, []).extend(completions)
        else:
            in_file[item.content_hash] = in_file[prompt.content_hash] = item.line
            batch.append(_payload(funnel.check(prompt, pii=pii), labels, counts))
        if len(batch) >= BATCH or len(answers) >= BATCH:
            _store(project, batch, answers, counts)
            batch, answers = [], {}
        if done % PROGRESS_EVERY == 0:
            _progress(run, done)
    _store(project, batch, answers, counts)
    _progress(run, done)
    run.counts = {**run.counts, **counts}
    run.funnel = funnel.report.as_dict()


def _duplicate(
    digest: str, redacted: str, in_file: dict[str, int], in_project: dict[str, int]
) -> tuple[Reason, str, str] | None:
    """Why a row is a duplicate, the stored prompt's hash and the count it goes to; or None."""
    for key in (digest, redacted):
        if key in in_file:
            reason = Reason("repeated_in_file", REASON_REPEATED_IN_FILE.format(line=in_file[key]))
            # The first copy was stored redacted, and redaction gives the same text each time.
            return reason, redacted, "duplicates_in_file"
        if key in in_project:
            detail = REASON_ALREADY_IN_PROJECT.format(id=in_project[key])
            return Reason("already_in_project", detail), key, "duplicates_in_project"
    return None


def _payload(verdict: Verdict, labels: list[str], counts: Counter[str]) -> dict[str, Any]:
    """A new prompt as stored: tagged with the rules unless the file named its type, with what
    PII was redacted and, when a filter removed it, its status and reason."""
    prompt = verdict.prompt
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
            {"filter": verdict.filter, "code": verdict.reason.code, "detail": str(verdict.reason)}
        ]
        counts["filtered"] += 1
    else:
        counts["kept"] += 1
    return payload


def _store(
    project: Project,
    batch: list[dict[str, Any]],
    answers: dict[str, list[dict[str, Any]]],
    counts: Counter[str],
) -> None:
    """Store new prompts, then the answers duplicates brought (their prompts are stored by
    now: each one's first copy is in this batch or an earlier one)."""
    if batch:
        stored = prompt_bulk_create(project=project, prompts=batch)
        counts["prompts"] += len(stored)
        counts["completions"] += sum(len(p["completions"]) for p in batch)
    if not answers:
        return
    prompt_ids = dict(
        Prompt.objects.filter(project=project, content_hash__in=list(answers)).values_list(
            "content_hash", "id"
        )
    )
    have: dict[int, set[str]] = defaultdict(set)
    for prompt_id, text in Completion.objects.filter(prompt_id__in=prompt_ids.values()).values_list(
        "prompt_id", "text"
    ):
        have[prompt_id].add(normalize_text(text))
    pending = []
    for digest, items in answers.items():
        prompt_id = prompt_ids[digest]
        for item in items:
            text = normalize_text(item["text"])
            if text not in have[prompt_id]:
                have[prompt_id].add(text)
                pending.append({**item, "prompt": prompt_id})
    if pending:
        completion_bulk_create(project=project, completions=pending)
    counts["completions"] += len(pending)
    counts["completions_on_duplicates"] += len(pending)


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
