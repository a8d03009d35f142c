"""manage.py synthesize_prompts --project SLUG [--rewrite KIND ...] [--drafts] [--candidates K
[--candidate-model M ...]] [--self-instruct N] [--limit N] [--llm-model M [--llm-base-url URL]
[--price-in X] [--price-out Y]]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from labeling.management.pipeline_command import PipelineCommand, add_llm_arguments, llm_options
from labeling.models import PipelineRun, Project
from labeling.pipeline.synthesis import HEURISTIC_REWRITES
from labeling.services.pipeline import prompts_synthesize


class Command(PipelineCommand):
    help = (
        "Over up to --limit active prompts: rule-based rewrites; with --llm-model, LLM "
        "rewrites, draft answers, K candidate answers for ranking, and self-instruct prompts "
        "per task type."
    )

    def add_stage_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rewrite",
            action="append",
            default=[],
            choices=list(HEURISTIC_REWRITES),
            help="A rule-based rewrite (repeat it); each is a new prompt linked to its origin.",
        )
        parser.add_argument(
            "--llm-rewrite",
            default="",
            metavar="INSTRUCTION",
            help='The LLM rewrites each prompt by it ("make it harder"), a new prompt each.',
        )
        parser.add_argument(
            "--drafts",
            action="store_true",
            help="Draft an answer for prompts with no draft yet (up to --limit).",
        )
        parser.add_argument(
            "--candidates", type=int, default=0, help="K answers per prompt for ranking (0-20)."
        )
        parser.add_argument(
            "--candidate-model",
            action="append",
            default=[],
            help="A model that takes the K slots in turn (repeat it; default: --llm-model).",
        )
        parser.add_argument(
            "--candidate-temperature",
            action="append",
            type=float,
            default=[],
            help="A sampling temperature (repeat it); each candidate model answers at each.",
        )
        parser.add_argument(
            "--self-instruct", type=int, default=0, help="New prompts per task type (0-10000)."
        )
        parser.add_argument("--limit", type=int, default=100, help="Prompts to work on.")
        add_llm_arguments(parser, what="for LLM rewrites, drafts, candidates and self-instruct")

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        return prompts_synthesize(
            project=project,
            rewrites=options["rewrite"],
            llm_rewrite=options["llm_rewrite"],
            drafts=options["drafts"],
            candidates=options["candidates"],
            candidate_models=options["candidate_model"],
            candidate_temperatures=options["candidate_temperature"],
            self_instruct=options["self_instruct"],
            limit=options["limit"],
            enqueue=False,
            **llm_options(options),
        )
