"""Starting runs: one service per stage checks its options and creates the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from labeling.models import (
    PipelineRun,
    PipelineStage,
    Project,
    TaskKind,
)
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.synthesis import (
    HEURISTIC_REWRITES,
)

from .runs import (
    ERROR_FILE_MISSING,
    ERROR_FORMAT,
    ERROR_GOLD_SHARE,
    ERROR_LIMIT,
    ERROR_LLM_MODEL,
    ERROR_NO_FILE,
    ERROR_NOTHING_TO_SYNTHESIZE,
    ERROR_REWRITE_INSTRUCTION,
    ERROR_REWRITE_KIND,
    ERROR_SYNTH_COUNTS,
    ERROR_TASK_KIND,
    ERROR_TEMPERATURES,
    PipelineRunError,
    _filter_options,
    _llm_options,
    _run_create,
)


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
    filter_options = _filter_options(filters or {}, project=project)
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
        params={"filters": _filter_options(filters or {}, project=project)},
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
    llm = _llm_options(
        llm_model,
        llm_base_url,
        price_prompt_per_mtok,
        price_completion_per_mtok,
        project=project,
    )
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
    llm_rewrite: str = "",
    drafts: bool = False,
    candidates: int = 0,
    candidate_models: Iterable[str] = (),
    candidate_temperatures: Iterable[float] = (),
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
    origin); with an LLM model, an LLM rewrite of each prompt following `llm_rewrite` (an
    instruction, e.g. "make it harder"), a drafted answer for up to `limit` prompts that have
    no draft yet (an answer from a log or a file is not one; a rerun drafts the next ones),
    K `candidates` (from `candidate_models` in turn, or the LLM model, each at every one of
    `candidate_temperatures`: N models or sampling settings) for prompts with fewer, and
    `self_instruct` new prompts per task type seeded from the project's prompts of that type."""
    kinds = list(rewrites)
    for kind in kinds:
        if kind not in HEURISTIC_REWRITES:
            raise PipelineRunError(
                ERROR_REWRITE_KIND.format(kind=kind, kinds=", ".join(HEURISTIC_REWRITES))
            )
    models = [m.strip() for m in candidate_models if m.strip()]
    try:
        temperatures = [float(t) for t in candidate_temperatures if str(t).strip() != ""]
    except (TypeError, ValueError):
        raise PipelineRunError(ERROR_TEMPERATURES) from None
    if len(temperatures) > 20 or not all(0 <= t <= 2 for t in temperatures):
        raise PipelineRunError(ERROR_TEMPERATURES)
    llm_rewrite = (llm_rewrite or "").strip()
    if len(llm_rewrite) > 2000:
        raise PipelineRunError(ERROR_REWRITE_INSTRUCTION)
    if (llm_rewrite or drafts or candidates or self_instruct) and not (
        llm_model or project.llm_model
    ):
        raise PipelineRunError(ERROR_LLM_MODEL)
    if not 0 <= int(candidates) <= 20 or not 0 <= int(self_instruct) <= 10_000:
        raise PipelineRunError(ERROR_SYNTH_COUNTS)
    if not kinds and not llm_rewrite and not drafts and not candidates and not self_instruct:
        raise PipelineRunError(ERROR_NOTHING_TO_SYNTHESIZE)
    if not 1 <= int(limit) <= 100_000:
        raise PipelineRunError(ERROR_LIMIT)
    llm = _llm_options(
        llm_model,
        llm_base_url,
        price_prompt_per_mtok,
        price_completion_per_mtok,
        project=project,
    )
    params = {
        "rewrites": kinds,
        "llm_rewrite": llm_rewrite,
        "drafts": drafts,
        "candidates": int(candidates),
        "candidate_models": models,
        "candidate_temperatures": temperatures,
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
