"""The data flywheel's stages, stored: one service per stage, each recorded on a PipelineRun.

`<stage>_start` services (`import_run_start`, `prompts_filter`, `prompts_tag`,
`prompts_synthesize`, `tasks_create_from_prompts`) validate the options, create the run and
enqueue it on the "default" queue after commit (or run it at once with `enqueue=False`, as the
management command does). `pipeline_run_execute` is what the worker calls with the run's id.

Audit: nothing is deleted. A prompt a filter removes is stored with status "filtered" and its
reasons, and `prompt_restore` brings it back.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from flywheel.errors import DomainError
from flywheel.llm import LLMClient, get_client
from labeling.models import (
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    Project,
    Prompt,
    PromptStatus,
    Task,
    TaskKind,
)
from labeling.pipeline.filters import Funnel, default_filters
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.progress import ProgressMeter
from labeling.pipeline.readers import PromptReader
from labeling.pipeline.records import (
    Completion as ParsedCompletion,
)
from labeling.pipeline.records import (
    ParsedPrompt,
    RowError,
    prompt_payload,
)
from labeling.pipeline.synthesis import (
    HEURISTIC_REWRITES,
    Generator,
    answers_candidates,
    answers_draft,
    rewrite_heuristic,
    self_instruct,
)
from labeling.pipeline.synthesis_base import Pricing, RunUsage
from labeling.pipeline.tagging import TASK_TYPES, tag_disagreements, tag_llm, tag_rules
from labeling.services.prompts import completion_bulk_create, prompt_bulk_create
from labeling.services.tasks import task_bulk_create

ERROR_FORMAT = "Unknown format {format!r}; use one of: {formats}."
ERROR_NO_FILE = "Choose a file to import."
ERROR_FILE_MISSING = "The file {name} is not there any more; upload it again."
ERROR_NOT_QUEUED = "Run {id} is {status}; only a queued run can start."
ERROR_REJECTED = "{count} bad row(s); nothing was imported. First: line {line}: {reason}"
ERROR_REWRITE_KIND = "Unknown rewrite {kind!r}; use one of: {kinds}."
ERROR_NOTHING_TO_SYNTHESIZE = (
    "Choose rewrites, or drafts, candidates or self-instruct prompts with an LLM model."
)
ERROR_SYNTH_COUNTS = "Candidates go from 0 to 20 per prompt; self-instruct from 0 to 10000."
ERROR_TASK_KIND = "Task kind must be one of: {kinds}."
ERROR_LIMIT = "The number of tasks must be between 1 and 100000."
ERROR_GOLD_SHARE = "The gold share is a fraction from 0 to 1 (0.1 makes one task in ten gold)."
ERROR_THRESHOLD = "The near-duplicate threshold must be between 0.1 and 1."
ERROR_LLM_MODEL = "Name the LLM model to use (or leave the LLM out)."
ERROR_PRICE = "Prices are US dollars per million tokens: a number, 0 or more."
ERROR_LENGTH_BOUND = (
    "{name} must be a whole number, 0 or more for a minimum and 1 or more for a maximum."
)
ERROR_LENGTH_ORDER = (
    "The minimum length in {unit} is above the maximum; lower it or raise the maximum."
)

LENGTH_OPTIONS = ("min_chars", "max_chars", "min_tokens", "max_tokens")
LENGTH_UNITS = {"chars": "characters", "tokens": "tokens"}

# Where a prompt's task type came from, in its meta["tagged_by"] (no key: a person or the API).
TAGGED_BY_RULES = "rules"
TAGGED_BY_LLM = "llm"
TAGGED_BY_SOURCE = "source"

BATCH = 500
SAMPLE_REJECTS = 1000  # a rejects report keeps this many rows (and the total count)
PROGRESS_EVERY = 200  # rows between progress writes to the run row
PROGRESS_SECONDS = 1.0  # or this long, whichever comes first (LLM stages go a row a second)
NEEDS = {TaskKind.RANKING: 2, TaskKind.PAIRWISE: 2, TaskKind.RUBRIC: 1, TaskKind.DEMONSTRATION: 0}
GOLD_SOURCES = {
    TaskKind.DEMONSTRATION: "Gold comes from a reference answer (MT-Bench's, say): import "
    "prompts that carry one, or lower the gold share.",
    TaskKind.RUBRIC: "Gold comes from a reference answer (MT-Bench's, say): import prompts "
    "that carry one, or lower the gold share.",
    TaskKind.PAIRWISE: "Gold comes from a preferred answer (HH-RLHF's chosen one, say): import "
    "pairs that mark one, or lower the gold share.",
    TaskKind.RANKING: "Ranking tasks take no gold from the data: set the gold share to 0 for "
    "them.",
}

# Warnings: the run succeeded, but not quite as asked.
WARNING_TOO_FEW_ANSWERS = (
    "{count} prompt(s) have fewer than the {need} answers a {kind} task needs and were left "
    "out. Synthesize {need} candidates per prompt for them, then create tasks again."
)
WARNING_GOLD_SHORT = (
    "The gold share asks for {want} gold task(s) ({share:.0%} of {tasks}), but only {able} of "
    "these prompts carry a gold answer, so {got} are gold. {source}"
)


class PipelineRunError(DomainError):
    pass


# -- starting runs -----------------------------------------------------------------------------


def import_run_start(
    *,
    project: Project,
    path: str | Path | None = None,
    upload: IO[bytes] | None = None,
    filename: str = "",
    format: str | None = None,
    since: datetime | None = None,
    skip_invalid: bool = False,
    filters: Mapping[str, Any] | None = None,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Start an import of a file (a path on the server, or an upload stored under the artifact
    folder): read, redact PII, filter, tag with rules, store. Options of the filters:
    min_chars, max_chars, min_tokens, max_tokens, blocklist, languages, near_dup_threshold
    (the same as the filter stage's)."""
    if format and format not in FORMATS:
        raise PipelineRunError(ERROR_FORMAT.format(format=format, formats=", ".join(FORMATS)))
    filter_options = _filter_options(filters or {})
    if upload is not None:
        name = Path(filename or getattr(upload, "name", "") or "upload.jsonl").name
        folder = Path(settings.FLYWHEEL_ARTIFACT_DIR) / "imports" / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        stored = folder / name
        with stored.open("wb") as out:
            for chunk in iter(lambda: upload.read(1 << 20), b""):
                out.write(chunk)
    elif path:
        stored = Path(path).resolve()
        name = stored.name
        if not stored.is_file():
            raise PipelineRunError(ERROR_FILE_MISSING.format(name=name))
    else:
        raise PipelineRunError(ERROR_NO_FILE)
    params = {
        "format": format or "",
        "since": since.isoformat() if since else "",
        "skip_invalid": skip_invalid,
        "filters": filter_options,
    }
    return _run_create(
        project=project,
        stage=PipelineStage.IMPORT,
        params=params,
        input_name=name,
        input_path=str(stored),
        created_by=created_by,
        enqueue=enqueue,
    )


def prompts_filter(
    *,
    project: Project,
    filters: Mapping[str, Any] | None = None,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Run the filters again over the project's active prompts (say, after a new blocklist):
    the ones removed become filtered, with their reasons."""
    return _run_create(
        project=project,
        stage=PipelineStage.FILTER,
        params={"filters": _filter_options(filters or {})},
        created_by=created_by,
        enqueue=enqueue,
    )


def prompts_tag(
    *,
    project: Project,
    llm_model: str = "",
    llm_base_url: str = "",
    price_prompt_per_mtok: float = 0.0,
    price_completion_per_mtok: float = 0.0,
    retag: bool = False,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Tag active prompts (untagged ones, or all with `retag`) with the rules and, when an LLM
    model is named, with the LLM held to the project's labels; disagreements are listed.
    The prices (US dollars per million input / output tokens) make the run's cost."""
    llm = _llm_options(llm_model, llm_base_url, price_prompt_per_mtok, price_completion_per_mtok)
    params = {"retag": retag, **llm}
    return _run_create(
        project=project,
        stage=PipelineStage.TAG,
        params=params,
        created_by=created_by,
        enqueue=enqueue,
    )


def prompts_synthesize(
    *,
    project: Project,
    rewrites: Iterable[str] = (),
    drafts: bool = False,
    candidates: int = 0,
    candidate_models: Iterable[str] = (),
    self_instruct: int = 0,
    limit: int = 100,
    llm_model: str = "",
    llm_base_url: str = "",
    price_prompt_per_mtok: float = 0.0,
    price_completion_per_mtok: float = 0.0,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Over up to `limit` active prompts: heuristic rewrites (new prompts linked to their
    origin); with an LLM model, a drafted answer for prompts that have none, K `candidates`
    (from `candidate_models` in turn, or the LLM model) for prompts with fewer, and
    `self_instruct` new prompts per task type seeded from the project's prompts of that type."""
    kinds = list(rewrites)
    for kind in kinds:
        if kind not in HEURISTIC_REWRITES:
            raise PipelineRunError(
                ERROR_REWRITE_KIND.format(kind=kind, kinds=", ".join(HEURISTIC_REWRITES))
            )
    models = [m.strip() for m in candidate_models if m.strip()]
    if (drafts or candidates or self_instruct) and not llm_model:
        raise PipelineRunError(ERROR_LLM_MODEL)
    if not 0 <= int(candidates) <= 20 or not 0 <= int(self_instruct) <= 10_000:
        raise PipelineRunError(ERROR_SYNTH_COUNTS)
    if not kinds and not drafts and not candidates and not self_instruct:
        raise PipelineRunError(ERROR_NOTHING_TO_SYNTHESIZE)
    if not 1 <= int(limit) <= 100_000:
        raise PipelineRunError(ERROR_LIMIT)
    llm = _llm_options(llm_model, llm_base_url, price_prompt_per_mtok, price_completion_per_mtok)
    params = {
        "rewrites": kinds,
        "drafts": drafts,
        "candidates": int(candidates),
        "candidate_models": models,
        "self_instruct": int(self_instruct),
        "limit": int(limit),
        **llm,
    }
    return _run_create(
        project=project,
        stage=PipelineStage.SYNTHESIZE,
        params=params,
        created_by=created_by,
        enqueue=enqueue,
    )


def tasks_create_from_prompts(
    *,
    project: Project,
    kind: str,
    limit: int = 100,
    gold_share: float | None = None,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Tasks of `kind` from active prompts that have none of that kind yet, balanced across
    task types (round robin), with the project's overlap and a share of gold (the project's
    gold rate unless given) where the data carries a gold answer."""
    if kind not in TaskKind.values:
        raise PipelineRunError(ERROR_TASK_KIND.format(kinds=", ".join(TaskKind.values)))
    if not 1 <= int(limit) <= 100_000:
        raise PipelineRunError(ERROR_LIMIT)
    share = project.gold_rate if gold_share is None else float(gold_share)
    if not 0.0 <= share <= 1.0:
        raise PipelineRunError(ERROR_GOLD_SHARE)
    params = {"kind": kind, "limit": int(limit), "gold_share": share}
    return _run_create(
        project=project,
        stage=PipelineStage.TASKS,
        params=params,
        created_by=created_by,
        enqueue=enqueue,
    )


def _run_create(
    *,
    project: Project,
    stage: str,
    params: dict[str, Any],
    created_by: AbstractBaseUser | None,
    enqueue: bool,
    input_name: str = "",
    input_path: str = "",
) -> PipelineRun:
    with transaction.atomic():
        run = PipelineRun.objects.create(
            project=project,
            stage=stage,
            params=params,
            input_name=input_name,
            input_path=input_path,
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        run_id = run.pk

        def enqueue_run() -> None:
            from labeling.pipeline_tasks import pipeline_run_task

            pipeline_run_task.enqueue(run_id=run_id)

        if enqueue:
            transaction.on_commit(enqueue_run)
    return run


def _filter_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The filter chain's options, checked: length bounds (characters and tokens), blocklist,
    languages, near-duplicate threshold. What is left out keeps the chain's default."""
    clean: dict[str, Any] = {}
    for key in LENGTH_OPTIONS:
        if options.get(key) not in (None, ""):
            try:
                value = int(options[key])
            except (TypeError, ValueError):
                raise PipelineRunError(ERROR_LENGTH_BOUND.format(name=key)) from None
            if value < (1 if key.startswith("max_") else 0):
                raise PipelineRunError(ERROR_LENGTH_BOUND.format(name=key))
            clean[key] = value
    for unit in ("chars", "tokens"):
        low, high = clean.get(f"min_{unit}"), clean.get(f"max_{unit}")
        if low is not None and high is not None and low > high:
            raise PipelineRunError(ERROR_LENGTH_ORDER.format(unit=LENGTH_UNITS[unit]))
    threshold = options.get("near_dup_threshold")
    if threshold not in (None, ""):
        threshold = float(threshold)
        if not 0.1 <= threshold <= 1.0:
            raise PipelineRunError(ERROR_THRESHOLD)
        clean["near_dup_threshold"] = threshold
    for key in ("blocklist", "languages"):
        values = options.get(key) or []
        if isinstance(values, str):
            values = [values]
        # "a, b" in one text (a form field, a multipart API field) is two values.
        values = [v.strip() for item in values for v in str(item).replace("\n", ",").split(",")]
        values = [v for v in values if v]
        if values:
            clean[key] = values
    return clean


def _llm_options(
    model: str, base_url: str, price_prompt: Any = 0.0, price_completion: Any = 0.0
) -> dict[str, Any]:
    """The run's LLM: model, server and prices (US dollars per million tokens, as providers
    quote them; 0 when the server is free or the price is unknown, and then so is the cost)."""
    prices = []
    for price in (price_prompt, price_completion):
        try:
            value = float(price or 0)
        except (TypeError, ValueError):
            raise PipelineRunError(ERROR_PRICE) from None
        if not 0 <= value < float("inf"):
            raise PipelineRunError(ERROR_PRICE)
        prices.append(value)
    if not model:
        return {}
    return {
        "llm": {
            "model": model,
            "base_url": base_url or settings.FLYWHEEL_LLM_BASE_URL,
            "price_prompt_per_mtok": prices[0],
            "price_completion_per_mtok": prices[1],
        }
    }


# -- running -----------------------------------------------------------------------------------


Progress = Callable[[int, int], None]


def pipeline_run_execute(*, run: PipelineRun, on_progress: Progress | None = None) -> PipelineRun:
    """Run a queued stage to its end: succeeded, or failed with the error. A domain error (a bad
    file, all-or-nothing rejects) fails the run; anything else fails it and is raised."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if run.status != PipelineStatus.QUEUED:
            raise PipelineRunError(ERROR_NOT_QUEUED.format(id=run.pk, status=run.status))
        run.status = PipelineStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    run.on_progress = on_progress  # the command prints it; the row is what pages poll
    from labeling.services.structured import structured_execute  # it builds on this module

    stages: dict[str, Callable[[PipelineRun], None]] = {
        PipelineStage.IMPORT: _import,
        PipelineStage.FILTER: _filter,
        PipelineStage.TAG: _tag,
        PipelineStage.SYNTHESIZE: _synthesize,
        PipelineStage.STRUCTURED: structured_execute,
        PipelineStage.TASKS: _tasks,
    }
    try:
        stages[run.stage](run)
    except DomainError as error:
        _fail(run, str(error))
    except Exception as error:
        _fail(run, f"{type(error).__name__}: {error}")
        raise
    else:
        run.status = PipelineStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.done = max(run.done, run.total)
        run.save()
    run.refresh_from_db()
    return run


def _fail(run: PipelineRun, message: str) -> None:
    run.status = PipelineStatus.FAILED
    run.error = message or "failed"
    run.finished_at = timezone.now()
    run.save()


def _progress(run: PipelineRun, done: int, total: int | None = None) -> None:
    run.done = done
    fields = ["done"]
    if total is not None:
        run.total = total
        fields.append("total")
    PipelineRun.objects.filter(pk=run.pk).update(**{f: getattr(run, f) for f in fields})
    report = getattr(run, "on_progress", None)
    if report is not None:
        report(run.done, run.total)


def _meter(run: PipelineRun, total: int) -> ProgressMeter:
    """Progress of `total` items, written to the run row as they go (throttled)."""
    _progress(run, 0, total)
    return ProgressMeter(
        lambda done: _progress(run, done), every=PROGRESS_EVERY, seconds=PROGRESS_SECONDS
    )


def _use_usage(run: PipelineRun, usage: RunUsage) -> None:
    run.prompt_tokens += usage.prompt_tokens
    run.completion_tokens += usage.completion_tokens
    run.cost_usd += usage.cost_usd


def _pricing(run: PipelineRun) -> Pricing:
    llm = run.params.get("llm") or {}
    return Pricing(
        input_per_million=float(llm.get("price_prompt_per_mtok") or 0),
        output_per_million=float(llm.get("price_completion_per_mtok") or 0),
    )


def _client(run: PipelineRun) -> LLMClient | None:
    llm = run.params.get("llm") or {}
    if not llm.get("model"):
        return None
    return get_client(model=llm["model"], base_url=llm["base_url"])


def _labels(project: Project) -> list[str]:
    return list(project.task_types or TASK_TYPES)


def _funnel(project: Project, options: Mapping[str, Any], *, known: list[str]) -> Funnel:
    chain = default_filters(**options, known_texts=known)
    return Funnel(chain)


def _user_text(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(m["content"] for m in messages if m.get("role") == "user")


def _parsed(prompt: Prompt) -> ParsedPrompt:
    return ParsedPrompt(
        messages=list(prompt.messages),
        system=prompt.system,
        task_type=prompt.task_type,
        source=prompt.source,
        meta={**prompt.meta, "prompt_id": prompt.pk},
        line=int(prompt.meta.get("line") or 0),
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


def _rules_only(prompt: Prompt) -> bool:
    """Whether the prompt's type came from the rule tagger alone: tagged by the rules, and not
    changed since (a person who set another type in the admin is kept)."""
    meta = prompt.meta or {}
    if meta.get("tagged_by") != TAGGED_BY_RULES:
        return False
    return meta.get("rule_task_type", prompt.task_type) == prompt.task_type


def _tag(run: PipelineRun) -> None:
    """Untagged prompts get a type; with an LLM named, so do the prompts whose type came only
    from the rules (import tags every prompt with them). Types from the source file, a person
    or an earlier LLM run are kept unless `retag` is asked."""
    project = run.project
    labels = _labels(project)
    client = _client(run)
    prompts = Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE).order_by("id")
    prompts = prompts.only("id", "messages", "task_type", "meta")
    if run.params.get("retag"):
        rows = list(prompts)
    elif client is not None:
        untagged = prompts.exclude(task_type__in=labels)
        by_rules = prompts.filter(task_type__in=labels, meta__tagged_by=TAGGED_BY_RULES)
        rows = list((untagged | by_rules).order_by("id"))
        rows = [p for p in rows if p.task_type not in labels or _rules_only(p)]
    else:
        rows = list(prompts.exclude(task_type__in=labels))
    # Progress counts the prompts the slow part has done: the LLM's replies when it is asked,
    # else the rules.
    meter = _meter(run, len(rows))
    rule_tags = {}
    for prompt in rows:
        rule_tags[str(prompt.pk)] = tag_rules(_user_text(prompt.messages), labels=labels).task_type
        if client is None:
            meter.advance()
    final = dict(rule_tags)
    counts: Counter[str] = Counter(rules=len(rows))
    by_llm: set[str] = set()
    if client is not None and rows:
        result = tag_llm(
            client,
            [(str(p.pk), _user_text(p.messages)) for p in rows],
            labels=labels,
            pricing=_pricing(run),
            on_item=meter.advance,
        )
        _use_usage(run, result.usage)
        disagreements = tag_disagreements(rule_tags, result.tags)
        by_id = {str(p.pk): p for p in rows}
        run.disagreements = [
            {
                "prompt": int(d.key),
                "text": _user_text(by_id[d.key].messages)[:200],
                "rule": d.rule,
                "llm": d.llm,
            }
            for d in disagreements
        ]
        run.failures = [{"key": f.key, "reason": f.reason} for f in result.failures]
        for tag in result.tags:
            final[tag.key] = tag.task_type  # the LLM, held to the labels, wins
            by_llm.add(tag.key)
        counts.update(llm=len(result.tags), disagreements=len(disagreements))
        counts["llm_failures"] = len(result.failures)
    for prompt in rows:
        key = str(prompt.pk)
        prompt.task_type = final[key]
        if key in by_llm:
            prompt.meta = {
                **prompt.meta,
                "tagged_by": TAGGED_BY_LLM,
                "rule_task_type": rule_tags[key],
            }
        else:
            prompt.meta = {
                **prompt.meta,
                "tagged_by": TAGGED_BY_RULES,
                "rule_task_type": final[key],
            }
    meter.flush()
    Prompt.objects.bulk_update(rows, ["task_type", "meta"], batch_size=BATCH)
    run.done = len(rows)
    run.counts = {**counts, "by_task_type": dict(Counter(p.task_type for p in rows))}


def _synthesize(run: PipelineRun) -> None:
    project = run.project
    params = run.params
    source = list(
        Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE)
        .exclude(meta__has_key="origin")
        .order_by("id")[: params["limit"]]
    )
    client = _client(run)
    llm_steps = client is not None
    # Progress in steps: a prompt through a rewrite or a draft, one candidate answer, one task
    # type's self-instruct batch.
    steps = (
        len(source) * (bool(params.get("rewrites")) + bool(params.get("drafts") and llm_steps))
        + len(source) * (params.get("candidates") or 0) * llm_steps
        + len(_labels(project)) * bool(params.get("self_instruct") and llm_steps)
    )
    meter = _meter(run, steps)
    counts: Counter[str] = Counter()
    parsed = [_parsed(p) for p in source]
    if params.get("rewrites"):
        variants = rewrite_heuristic(parsed, kinds=params["rewrites"])
        payloads = []
        for variant in variants:
            payload = prompt_payload(variant)
            payload["source"] = payload["source"] or "synthesis"
            payload["meta"].pop("prompt_id", None)
            payloads.append(payload)
        before = Prompt.objects.filter(project=project).count()
        prompt_bulk_create(project=project, prompts=payloads)
        counts["rewrites"] = Prompt.objects.filter(project=project).count() - before
        meter.advance(len(source))
    if params.get("drafts") and client is not None:
        answered = set(
            Prompt.objects.filter(
                pk__in=[p.pk for p in source], completions__isnull=False
            ).values_list("pk", flat=True)
        )
        needing = [p for p in parsed if p.meta["prompt_id"] not in answered]
        meter.advance(len(parsed) - len(needing))
        result = answers_draft(client, needing, pricing=_pricing(run), on_item=meter.advance)
        _use_usage(run, result.usage)
        by_hash = {p.content_hash: p.meta["prompt_id"] for p in needing}
        pending = [
            {
                "prompt": by_hash[digest],
                "text": answer.text,
                "model_name": answer.model,
                "params": dict(answer.params),
                "meta": {"draft": True},
            }
            for digest, answers in result.answers.items()
            for answer in answers
            if isinstance(answer, ParsedCompletion) and answer.text.strip()
        ]
        if pending:
            completion_bulk_create(project=project, completions=pending)
        counts["drafts"] = len(pending)
        counts["draft_failures"] = len(result.failures)
        run.failures += [{"key": f.key, "reason": f.reason} for f in result.failures]
    if params.get("candidates") and client is not None:
        _candidates(run, client, source, parsed, counts, meter)
    if params.get("self_instruct") and client is not None:
        _self_instruct(run, client, counts, meter)
    meter.flush()
    run.done = steps
    run.counts = dict(counts)


def _candidates(
    run: PipelineRun,
    client: LLMClient,
    source: list[Prompt],
    parsed: list[ParsedPrompt],
    counts: Counter[str],
    meter: ProgressMeter,
) -> None:
    """K candidate answers for ranking: prompts with fewer than K get the missing ones."""
    k = run.params["candidates"]
    have = dict(
        Prompt.objects.filter(pk__in=[p.pk for p in source])
        .annotate(n=Count("completions"))
        .values_list("pk", "n")
    )
    needing = [p for p in parsed if have.get(p.meta["prompt_id"], 0) < k]
    meter.advance((len(parsed) - len(needing)) * k)
    models = run.params.get("candidate_models") or [None]
    generators = [Generator(model=m) for m in models]
    result = answers_candidates(
        client,
        needing,
        generators=generators,
        k=k,
        pricing=_pricing(run),
        on_item=meter.advance,
    )
    _use_usage(run, result.usage)
    by_hash = {p.content_hash: p.meta["prompt_id"] for p in needing}
    pending = []
    for digest, answers in result.answers.items():
        missing = k - have.get(by_hash[digest], 0)
        for answer in answers[:missing]:
            if answer.text.strip():
                pending.append(
                    {
                        "prompt": by_hash[digest],
                        "text": answer.text,
                        "model_name": answer.model,
                        "params": dict(answer.params),
                        "meta": {"candidate": True},
                    }
                )
    if pending:
        completion_bulk_create(project=run.project, completions=pending)
    counts["candidates"] = len(pending)
    counts["candidate_failures"] = len(result.failures)
    run.failures += [{"key": f.key, "reason": f.reason} for f in result.failures]


def _self_instruct(
    run: PipelineRun, client: LLMClient, counts: Counter[str], meter: ProgressMeter
) -> None:
    """New prompts per task type from seeds of that type, minus those too similar to the pool."""
    project = run.project
    texts_by_type: dict[str, list[str]] = defaultdict(list)
    for task_type, messages in Prompt.objects.filter(
        project=project, status=PromptStatus.ACTIVE
    ).values_list("task_type", "messages"):
        texts_by_type[task_type].append(_user_text(messages))
    pool = [t for texts in texts_by_type.values() for t in texts]
    payloads = []
    for task_type in _labels(project):
        seeds = texts_by_type.get(task_type) or []
        if not seeds:
            meter.advance()
            continue
        result = self_instruct(
            client,
            seeds=seeds[:50],
            task_type=task_type,
            count=run.params["self_instruct"],
            pool=pool,
            pricing=_pricing(run),
        )
        meter.advance()
        _use_usage(run, result.usage)
        payloads += [prompt_payload(p) for p in result.prompts]
        counts["self_instruct_dropped"] += len(result.dropped)
        run.failures += [{"key": f.key, "reason": f.reason} for f in result.failures]
    if payloads:
        before = Prompt.objects.filter(project=project).count()
        prompt_bulk_create(project=project, prompts=payloads)
        counts["self_instruct"] = Prompt.objects.filter(project=project).count() - before


def _tasks(run: PipelineRun) -> None:
    """Prompts with fewer answers than the kind needs (K for ranking) are left out and counted,
    and a gold share the data cannot meet is reported: both as warnings on the run."""
    project = run.project
    params = run.params
    kind = params["kind"]
    need = _answers_needed(project, kind)
    has_task = Task.objects.filter(prompt=OuterRef("pk"), kind=kind)
    open_prompts = (
        Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE)
        .annotate(n_answers=Count("completions"))
        .filter(~Exists(has_task))
    )
    too_few = open_prompts.filter(n_answers__lt=need).count() if need else 0
    by_type: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in open_prompts.filter(n_answers__gte=need).order_by("id"):
        by_type[prompt.task_type].append(prompt)
    chosen = list(_round_robin(by_type, params["limit"]))
    meter = _meter(run, len(chosen))
    rng = random.Random(run.pk)
    specs = []
    for prompt in chosen:
        specs.append(_task_spec(project, kind, prompt, rng))
        meter.advance()
    gold_able = [i for i, spec in enumerate(specs) if spec.pop("_gold", None) is not None]
    want = round(params["gold_share"] * len(specs))
    gold = set(rng.sample(gold_able, min(want, len(gold_able))))
    if too_few:
        message = WARNING_TOO_FEW_ANSWERS.format(count=too_few, need=need, kind=kind)
        run.warnings = [*run.warnings, {"code": "too_few_answers", "message": message}]
    if len(gold) < want:
        message = WARNING_GOLD_SHORT.format(
            share=params["gold_share"],
            want=want,
            tasks=len(specs),
            able=len(gold_able),
            got=len(gold),
            source=GOLD_SOURCES[TaskKind(kind)],
        )
        run.warnings = [*run.warnings, {"code": "gold_short", "message": message}]
    for i, spec in enumerate(specs):
        if i not in gold:
            spec.pop("gold_answer", None)
            spec.pop("reference", None)
        else:
            spec["is_gold"] = True
    created = task_bulk_create(project=project, tasks=specs) if specs else []
    counts: Counter[str] = Counter(p.task_type or "untagged" for p in chosen)
    meter.flush()
    run.done = len(created)
    run.counts = {
        "tasks": len(created),
        "gold": len(gold),
        "gold_wanted": want,
        "skipped_too_few_answers": too_few,
        "by_task_type": dict(counts),
    }


def _answers_needed(project: Project, kind: str) -> int:
    """Answers a prompt needs for a task of `kind`: the project's K for ranking."""
    if kind == TaskKind.RANKING:
        return max(NEEDS[TaskKind.RANKING], project.k_outputs)
    return NEEDS[TaskKind(kind)]


def _round_robin(groups: Mapping[str, list[Prompt]], limit: int) -> Iterator[Prompt]:
    """Balanced across task types: one of each type in turn until the limit."""
    queues = [list(items) for _, items in sorted(groups.items())]
    taken = 0
    while taken < limit and any(queues):
        for queue in queues:
            if queue and taken < limit:
                taken += 1
                yield queue.pop(0)


def _task_spec(project: Project, kind: str, prompt: Prompt, rng: random.Random) -> dict[str, Any]:
    answers = list(prompt.completions.order_by("id"))
    meta: dict[str, Any] = {}
    if prompt.meta.get("followup_turns"):
        meta["followup_turns"] = prompt.meta["followup_turns"]  # MT-Bench's later turns
    spec: dict[str, Any] = {"kind": kind, "prompt": prompt.pk, "source": {"pipeline": True}}
    reference = prompt.meta.get("reference") or ""
    if kind == TaskKind.DEMONSTRATION:
        drafts = [a for a in answers if a.meta.get("draft")] or answers[:1]
        spec["completions"] = [a.pk for a in drafts[:1]]
        if reference:
            spec["reference"] = reference
            spec["gold_answer"] = {"text": reference}
            spec["_gold"] = True
    elif kind == TaskKind.PAIRWISE:
        preferred = [a for a in answers if a.meta.get("preferred") is True]
        others = [a for a in answers if a.meta.get("preferred") is not True]
        pair = (preferred[:1] + others)[:2] if preferred else answers[:2]
        # The preferred answer (HH-RLHF `chosen`) lands on a random side, so side says nothing.
        flip = rng.random() < 0.5
        if flip:
            pair = pair[::-1]
        spec["completions"] = [a.pk for a in pair]
        if preferred and len(pair) == 2:
            spec["gold_answer"] = {"choice": "b" if flip else "a"}
            spec["_gold"] = True
    elif kind == TaskKind.RANKING:
        spec["completions"] = [a.pk for a in answers[: max(2, project.k_outputs)]]
    else:
        spec["completions"] = [a.pk for a in answers[: max(1, project.k_outputs)]]
        if reference:
            spec["reference"] = reference
            spec["_gold"] = True
    if meta:
        spec["meta"] = meta
    return spec
