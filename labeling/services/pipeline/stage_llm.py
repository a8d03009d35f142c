"""The LLM stages: tag (rules and an LLM held to the project's labels) and synthesize
(heuristic rewrites, drafts, K candidates, self-instruct)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet

from flywheel.llm import LLMClient
from labeling.models import (
    Completion,
    PipelineRun,
    Project,
    Prompt,
    PromptStatus,
)
from labeling.pipeline.progress import ProgressMeter
from labeling.pipeline.records import (
    Completion as ParsedCompletion,
)
from labeling.pipeline.records import (
    ParsedPrompt,
    prompt_payload,
)
from labeling.pipeline.synthesis import (
    MINHASH,
    ROUGE_L,
    Generator,
    answers_candidates,
    answers_draft,
    rewrite_heuristic,
    rewrite_llm,
    self_instruct,
)
from labeling.pipeline.synthesis_base import Failure
from labeling.pipeline.tagging import tag_disagreements, tag_llm, tag_rules
from labeling.services.prompts import completion_bulk_create, prompt_bulk_create

from .runs import (
    BATCH,
    TAGGED_BY_LLM,
    TAGGED_BY_RULES,
    WARNING_NOTHING_TO_DRAFT,
    _client,
    _labels,
    _meter,
    _parsed,
    _pricing,
    _use_usage,
    _user_text,
)

ROUGE_POOL_LIMIT = 5000  # self-instruct: pools larger than this are checked with MinHash


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
        run.failures = _failures(result.failures, {str(p.pk): p.pk for p in rows}, step="tag")
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
    source = list(_originals(project).order_by("id")[: params["limit"]])
    client = _client(run)
    llm_steps = client is not None
    # Drafts go to prompts with no draft yet (an answer from a log or a file is not one), so a
    # second run moves on to the next ones.
    drafting = bool(params.get("drafts") and llm_steps)
    to_draft = list(_undrafted(project).order_by("id")[: params["limit"]]) if drafting else []
    # Progress in steps: a prompt through a rewrite or a draft, one candidate answer, one task
    # type's self-instruct batch.
    steps = (
        len(source) * (bool(params.get("rewrites")) + bool(params.get("llm_rewrite") and llm_steps))
        + len(to_draft)
        + len(source) * (params.get("candidates") or 0) * llm_steps
        + len(_labels(project)) * bool(params.get("self_instruct") and llm_steps)
    )
    meter = _meter(run, steps)
    counts: Counter[str] = Counter()
    parsed = [_parsed(p) for p in source]
    if params.get("rewrites"):
        variants = rewrite_heuristic(parsed, kinds=params["rewrites"])
        counts["rewrites"] = _store_variants(project, variants)
        meter.advance(len(source))
    if params.get("llm_rewrite") and client is not None:
        result = rewrite_llm(
            client, parsed, instruction=params["llm_rewrite"], pricing=_pricing(run),
            on_item=meter.advance,
        )  # fmt: skip
        _use_usage(run, result.usage)
        counts["llm_rewrites"] = _store_variants(project, result.prompts)
        counts["llm_rewrite_failures"] = len(result.failures)
        run.failures += _failures(result.failures, _prompt_ids(parsed), step="llm_rewrite")
    if drafting:
        _drafts(run, client, [_parsed(p) for p in to_draft], counts, meter)
    if params.get("candidates") and client is not None:
        _candidates(run, client, source, parsed, counts, meter)
    if params.get("self_instruct") and client is not None:
        _self_instruct(run, client, counts, meter)
    meter.flush()
    run.done = steps
    run.counts = dict(counts)


def _originals(project: Project) -> QuerySet[Prompt]:
    """The active prompts synthesis starts from: not rewrites (no rewrites of rewrites)."""
    return Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE).exclude(
        meta__has_key="origin"
    )


def _undrafted(project: Project) -> QuerySet[Prompt]:
    has_draft = Completion.objects.filter(prompt=OuterRef("pk"), meta__draft=True)
    return _originals(project).filter(~Exists(has_draft))


def _drafts(
    run: PipelineRun,
    client: LLMClient,
    prompts: list[ParsedPrompt],
    counts: Counter[str],
    meter: ProgressMeter,
) -> None:
    """A strong model's draft answer for each prompt (the demonstration labelers edit)."""
    counts["drafts"] = counts["draft_failures"] = 0
    if not prompts:
        run.warnings = [
            *run.warnings,
            {"code": "nothing_to_draft", "message": WARNING_NOTHING_TO_DRAFT},
        ]
        return
    result = answers_draft(client, prompts, pricing=_pricing(run), on_item=meter.advance)
    _use_usage(run, result.usage)
    by_hash = _prompt_ids(prompts)
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
        completion_bulk_create(project=run.project, completions=pending)
    counts["drafts"] = len(pending)
    counts["draft_failures"] = len(result.failures)
    run.failures += _failures(result.failures, by_hash, step="draft")


def _prompt_ids(prompts: list[ParsedPrompt]) -> dict[str, int]:
    return {p.content_hash: p.meta["prompt_id"] for p in prompts}


def _failures(
    failures: list[Failure], prompt_ids: Mapping[str, int], *, step: str
) -> list[dict[str, Any]]:
    """Failures as the run keeps them: the key (a prompt's content hash, with "#j" for its j-th
    answer; a prompt's id for the tagger; "call N" for self-instruct), the id of the prompt it
    was about (None for a self-instruct call), the step that failed and why."""
    return [
        {
            "key": f.key,
            "prompt": prompt_ids.get(f.key.split("#")[0]),
            "step": step,
            "reason": f.reason,
        }
        for f in failures
    ]


def _store_variants(project, variants: list[ParsedPrompt]) -> int:
    """Store rewritten prompts (linked to their origin in meta); how many were new."""
    payloads = []
    for variant in variants:
        payload = prompt_payload(variant)
        payload["source"] = payload["source"] or "synthesis"
        payload["meta"].pop("prompt_id", None)
        payloads.append(payload)
    before = Prompt.objects.filter(project=project).count()
    prompt_bulk_create(project=project, prompts=payloads)
    return Prompt.objects.filter(project=project).count() - before


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
    # N models or sampling settings take the K slots in turn: each model at each temperature.
    models = run.params.get("candidate_models") or [None]
    temperatures = run.params.get("candidate_temperatures") or [None]
    generators = [
        Generator(model=m) if t is None else Generator(model=m, temperature=t)
        for m in models
        for t in temperatures
    ]
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
    run.failures += _failures(result.failures, by_hash, step="candidate")


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
            # ROUGE-L against every pool prompt is exact but O(pool) per candidate (~0.2 ms a
            # pair: 20 s a candidate at 100k prompts); MinHash LSH past ROUGE_POOL_LIMIT.
            similarity=ROUGE_L if len(pool) <= ROUGE_POOL_LIMIT else MINHASH,
            pricing=_pricing(run),
        )
        meter.advance()
        _use_usage(run, result.usage)
        payloads += [prompt_payload(p) for p in result.prompts]
        counts["self_instruct_dropped"] += len(result.dropped)
        run.failures += _failures(result.failures, {}, step="self_instruct")  # calls
    if payloads:
        before = Prompt.objects.filter(project=project).count()
        prompt_bulk_create(project=project, prompts=payloads)
        counts["self_instruct"] = Prompt.objects.filter(project=project).count() - before
