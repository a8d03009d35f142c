"""manage.py filter_prompts --project SLUG [--blocklist TERM ...] [--languages CODE ...]
[--min-chars N] [--max-chars N] [--min-tokens N] [--max-tokens N] [--near-dup-threshold X]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from labeling.management.pipeline_command import (
    PipelineCommand,
    add_filter_arguments,
    filter_options,
)
from labeling.models import PipelineRun, Project
from labeling.services.pipeline import prompts_filter


class Command(PipelineCommand):
    help = (
        "Run the filters again over the project's active prompts; the ones removed become "
        "filtered, with their reasons (nothing is deleted). Prints the funnel."
    )

    def add_stage_arguments(self, parser: CommandParser) -> None:
        add_filter_arguments(parser)

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        return prompts_filter(project=project, filters=filter_options(options), enqueue=False)
