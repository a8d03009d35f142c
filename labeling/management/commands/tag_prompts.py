"""manage.py tag_prompts --project SLUG [--llm-model M [--llm-base-url URL] [--price-in X]
[--price-out Y]] [--retag]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from labeling.management.pipeline_command import PipelineCommand, add_llm_arguments, llm_options
from labeling.models import PipelineRun, Project
from labeling.services.pipeline import prompts_tag


class Command(PipelineCommand):
    help = (
        "Tag the project's untagged prompts with a task type by the rules and, with --llm-model, "
        "by the LLM held to the project's labels; prints where the two disagree."
    )

    def add_stage_arguments(self, parser: CommandParser) -> None:
        add_llm_arguments(parser, what="that also tags, held to the project's labels")
        parser.add_argument(
            "--retag", action="store_true", help="Tag every prompt again, types a person set too."
        )

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        return prompts_tag(
            project=project, retag=options["retag"], enqueue=False, **llm_options(options)
        )
