"""Demo data for the pipeline, through the same services the pages, API, admin and commands use
(each run started with enqueue=False and run by pipeline_run_execute, as the commands do):

1. the last 14 days of a small production log (older rows skipped, PII redacted, the funnel's
   rejects kept as filtered prompts with their reasons, rows tagged by rules), and rule-based
   rewrites of three prompts;
2. MT-Bench's 80 questions (multi-turn, with references) and 200 HH-RLHF pairs (a prompt with
   a chosen and a rejected answer), from the copies under tests/data/pipeline/;
3. an LLM tag run, where the scripted demo model (labeling.pipeline.demo_llm) disagrees with
   the rules on a few prompts and answers one with a label the project does not have;
4. an LLM synthesize run over the prompts from before MT-Bench and its first three questions:
   drafts, K candidates from two models, an LLM rewrite of each prompt and a few self-instruct
   prompts per task type, with prices so the run's tokens and cost show.

Each step is skipped when its run is there already, so a second load adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.urls import reverse

from labeling.models import (
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    Project,
    Prompt,
    PromptStatus,
)
from labeling.services.pipeline import (
    import_run_start,
    pipeline_run_execute,
    prompts_synthesize,
    prompts_tag,
)

from .demo_llm import CANDIDATE_MODELS, TAGGER_MODEL, WRITER_MODEL, scripted_model

DEMO_LOG = Path(__file__).resolve().parent / "data" / "demo_logs.jsonl"
# "Prompts from the last 14 days" of a log that ends on 2026-11-20.
LOG_WINDOW_START = datetime(2026, 11, 6, tzinfo=UTC)
FILTERS = {"languages": ["en"]}
REWRITES = ("json_output", "persona")
REWRITTEN = 3  # how many kept prompts also get rule-based rewrites
# The real benchmark files the pipeline's tests import (tests/data/pipeline/README.md).
BENCH_DATA = Path(settings.BASE_DIR) / "tests" / "data" / "pipeline"
MT_BENCH = BENCH_DATA / "mt_bench_question.jsonl"
HH_RLHF = BENCH_DATA / "hh_rlhf_harmless_base_test_200.jsonl"

# Prices in US dollars per million input / output tokens, like a small and a large hosted model.
TAGGER_PRICES = (0.15, 0.60)
WRITER_PRICES = (3.00, 15.00)
DRAFTED_QUESTIONS = 3  # MT-Bench questions the synthesize run reaches (drafts and candidates)
CANDIDATES = 3  # K answers per prompt
SELF_INSTRUCT = 2  # new prompts per task type
LLM_REWRITE = "Make it harder: add one requirement a careful user would add."


def run_line(run: PipelineRun) -> str:
    """One line a newcomer can follow: the run, how it ended, its page."""
    counts = ", ".join(
        f"{name.replace('_', ' ')} {value}"
        for name, value in run.ordered_counts
        if not isinstance(value, dict)
    )
    usage = ""
    if run.params.get("llm"):
        usage = (
            f"; {run.prompt_tokens} + {run.completion_tokens} tokens, ${run.cost_usd:.4f}"
            f" ({run.params['llm']['model']})"
        )
    url = reverse("labeling:pipeline_run", args=[run.pk])
    return f"{run.get_stage_display()} run #{run.pk} {run.status}: {counts}{usage} — {url}"


def run_done(project: Project, **lookup: Any) -> bool:
    return PipelineRun.objects.filter(
        project=project, status=PipelineStatus.SUCCEEDED, **lookup
    ).exists()


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    researcher = users.get("researcher")

    def say(text: str) -> None:
        stdout.write(f"  pipeline demo: {text}\n")

    if run_done(project, stage=PipelineStage.IMPORT, input_name=DEMO_LOG.name):
        say(f"{DEMO_LOG.name} already imported; 0 new prompts")
    else:
        _import_log(project, researcher, say)
    for path in (MT_BENCH, HH_RLHF):
        if run_done(project, stage=PipelineStage.IMPORT, input_name=path.name):
            continue
        if not path.is_file():  # an install without the repository's tests/ folder
            say(f"{path.name} is not in this install (it comes with a clone); not imported")
            continue
        run = import_run_start(
            project=project,
            path=path,
            skip_invalid=True,
            filters=FILTERS,
            created_by=researcher,
            enqueue=False,
        )
        say(run_line(pipeline_run_execute(run=run)))
    tagged = run_done(project, stage=PipelineStage.TAG, params__llm__model=TAGGER_MODEL)
    synthesized = run_done(project, stage=PipelineStage.SYNTHESIZE, params__llm__model=WRITER_MODEL)
    if tagged and synthesized:
        return
    with scripted_model() as server:
        if not tagged:
            run = pipeline_run_execute(
                run=prompts_tag(
                    project=project,
                    llm_model=TAGGER_MODEL,
                    llm_base_url=server.base_url,
                    price_prompt_per_mtok=TAGGER_PRICES[0],
                    price_completion_per_mtok=TAGGER_PRICES[1],
                    created_by=researcher,
                    enqueue=False,
                )
            )
            say(run_line(run))
            for d in run.disagreements:
                say(f"  rules said {d['rule']}, the LLM {d['llm']}: {d['text'][:70]!r}")
        if not synthesized:
            run = pipeline_run_execute(
                run=prompts_synthesize(
                    project=project,
                    llm_rewrite=LLM_REWRITE,
                    drafts=True,
                    candidates=CANDIDATES,
                    candidate_models=CANDIDATE_MODELS,
                    self_instruct=SELF_INSTRUCT,
                    limit=_synthesis_limit(project),
                    llm_model=WRITER_MODEL,
                    llm_base_url=server.base_url,
                    price_prompt_per_mtok=WRITER_PRICES[0],
                    price_completion_per_mtok=WRITER_PRICES[1],
                    created_by=researcher,
                    enqueue=False,
                )
            )
            say(run_line(run))


def _import_log(project: Project, researcher: Any, say: Any) -> None:
    run = pipeline_run_execute(
        run=import_run_start(
            project=project,
            path=DEMO_LOG,
            since=LOG_WINDOW_START,
            skip_invalid=True,
            filters=FILTERS,
            created_by=researcher,
            enqueue=False,
        )
    )
    for reject in run.rejects:
        say(f"line {reject['line']} rejected: {reject['reason']}")
    rewrites = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            rewrites=REWRITES,
            limit=REWRITTEN,
            created_by=researcher,
            enqueue=False,
        )
    )
    counts = run.counts
    funnel = run.funnel
    say(
        f"{counts['rows']} log rows since {LOG_WINDOW_START:%Y-%m-%d} "
        f"({counts['too_old']} older skipped), {counts['rejected']} rejected, "
        f"{funnel['total']} through the filters, {funnel['kept']} kept, "
        f"{rewrites.counts.get('rewrites', 0)} rewrites; "
        f"{counts['prompts'] + rewrites.counts.get('rewrites', 0)} new prompts in {project.name} "
        f"({counts['filtered']} kept as filtered, with reasons)"
    )
    if funnel["pii"]:
        say(f"PII redacted: {funnel['pii']}")
    for stage in funnel["stages"]:
        if stage["removed"]:
            reasons = "; ".join(sample["reason"] for sample in stage["samples"])
            say(f"{stage['name']} removed {stage['removed']} ({reasons})")


def _synthesis_limit(project: Project) -> int:
    """The stage works on the project's first `limit` prompts (oldest first, rewrites left
    out): every prompt from before the MT-Bench import, and its first few questions, which have
    no answer yet and so get drafts."""
    first = Prompt.objects.filter(project=project, source=MT_BENCH.name).order_by("id").first()
    before = Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE)
    if first is not None:
        before = before.filter(id__lt=first.pk)
    return before.exclude(meta__has_key="origin").count() + DRAFTED_QUESTIONS
