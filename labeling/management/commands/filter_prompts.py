"""manage.py filter_prompts --project SLUG [--blocklist TERM ...] [--languages CODE ...]
[--min-chars N] [--max-chars N] [--min-tokens N] [--max-tokens N] [--near-dup-threshold X]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from labeling.management.pipeline_command import PipelineCommand
from labeling.models import PipelineRun, Project
from labeling.services.pipeline import LENGTH_OPTIONS, prompts_filter


class Command(PipelineCommand):
    help = (
        "Run the filters again over the project's active prompts; the ones removed become "
        "filtered, with their reasons (nothing is deleted). Prints the funnel."
    )

    def add_stage_arguments(self, parser: CommandParser) -> None:
        for name in LENGTH_OPTIONS:
            bound, unit = name.split("_")
            parser.add_argument(
                f"--{name.replace('_', '-')}", type=int, help=f"The {bound}imum length in {unit}."
            )
        parser.add_argument(
            "--blocklist", action="append", default=[], help="A term to filter out (repeat it)."
        )
        parser.add_argument(
            "--languages", action="append", default=[], help="A language code to keep (repeat)."
        )
        parser.add_argument(
            "--near-dup-threshold", type=float, help="Jaccard similarity of near duplicates."
        )

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        names = (*LENGTH_OPTIONS, "blocklist", "languages", "near_dup_threshold")
        filters = {name: options[name] for name in names if options[name] not in (None, [])}
        return prompts_filter(project=project, filters=filters, enqueue=False)
