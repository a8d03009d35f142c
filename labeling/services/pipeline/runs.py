"""A pipeline run's record: errors and limits, checked options, creating the run (queued
after commit), progress, usage and the LLM client it uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from flywheel.errors import DomainError
from flywheel.llm import LLMClient, get_client
from labeling.models import (
    PipelineRun,
    PipelineStatus,
    Project,
    Prompt,
    TaskKind,
)
from labeling.pipeline.filters import Funnel, default_filters
from labeling.pipeline.progress import ProgressMeter
from labeling.pipeline.records import (
    ParsedPrompt,
)
from labeling.pipeline.synthesis_base import Pricing, RunUsage
from labeling.pipeline.tagging import TASK_TYPES

ERROR_FORMAT = "Unknown format {format!r}; use one of: {formats}."
ERROR_NO_FILE = "Choose a file to import."
ERROR_FILE_MISSING = "The file {name} is not there any more; upload it again."
ERROR_NOT_QUEUED = "Run {id} is {status}; only a queued run can start."
ERROR_REJECTED = "{count} bad row(s); nothing was imported. First: line {line}: {reason}"
ERROR_REWRITE_KIND = "Unknown rewrite {kind!r}; use one of: {kinds}."
ERROR_NOTHING_TO_SYNTHESIZE = (
    "Choose rewrites, or an LLM rewrite, drafts, candidates or self-instruct prompts with an "
    "LLM model."
)
ERROR_TEMPERATURES = "Candidate temperatures are up to 20 numbers from 0 to 2, like 0.2, 1.0."
ERROR_REWRITE_INSTRUCTION = "The LLM rewrite instruction is at most 2000 characters."
ERROR_SYNTH_COUNTS = "Candidates go from 0 to 20 per prompt; self-instruct from 0 to 10000."
ERROR_TASK_KIND = "Task kind must be one of: {kinds}."
ERROR_LIMIT = "The number of tasks must be between 1 and 100000."
ERROR_GOLD_SHARE = "The gold share is a fraction from 0 to 1 (0.1 makes one task in ten gold)."
ERROR_THRESHOLD = "The near-duplicate threshold must be between 0.1 and 1."
ERROR_LLM_MODEL = (
    "Name the LLM model to use, or give the project one in its settings (or leave the LLM out)."
)
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
    TaskKind.RANKING: "Ranking tasks take no gold from the data: set the gold share to 0 for them.",
}

# Warnings: the run succeeded, but not quite as asked.
WARNING_TOO_FEW_ANSWERS = (
    "{count} prompt(s) have fewer than the {need} answers a {kind} task needs and were left "
    "out. Synthesize {need} candidates per prompt for them, then create tasks again."
)
WARNING_NOTHING_TO_DRAFT = (
    "Every active prompt already has a draft (rewritten prompts are not drafted), so no draft "
    "was asked for. Import or synthesize new prompts to draft more."
)
WARNING_GOLD_SHORT = (
    "The gold share asks for {want} gold task(s) ({share:.0%} of {tasks}), but only {able} of "
    "these prompts carry a gold answer, so {got} are gold. {source}"
)


class PipelineRunError(DomainError):
    pass


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


def _filter_options(
    options: Mapping[str, Any], *, project: Project | None = None
) -> dict[str, Any]:
    """The filter chain's options, checked: length bounds (characters and tokens), blocklist,
    languages, near-duplicate threshold. What is left out keeps the chain's default; the
    languages default to the project's."""
    if project is not None and project.languages and not options.get("languages"):
        options = {**options, "languages": list(project.languages)}
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
    model: str,
    base_url: str,
    price_prompt: Any = 0.0,
    price_completion: Any = 0.0,
    *,
    project: Project | None = None,
) -> dict[str, Any]:
    """The run's LLM: model, server and prices (US dollars per million tokens, as providers
    quote them; 0 when the server is free or the price is unknown, and then so is the cost).
    A run that names no model gets the project's LLM, with its server and prices."""
    if not model and project is not None and project.llm_model:
        model, base_url = project.llm_model, base_url or project.llm_base_url
        price_prompt = price_prompt or project.llm_price_prompt_per_mtok
        price_completion = price_completion or project.llm_price_completion_per_mtok
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


Progress = Callable[[int, int], None]


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
