"""manage.py create_tasks --project SLUG --kind KIND [--limit N] [--gold-share X]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from labeling.management.pipeline_command import PipelineCommand
from labeling.models import PipelineRun, Project, TaskKind
from labeling.services.pipeline import tasks_create_from_prompts


class Command(PipelineCommand):
    help = (
        "Turn active prompts into tasks of a kind, balanced across task types, with the "
        "project's overlap and a share of gold; says which prompts it left out and why."
    )

    def add_stage_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=TaskKind.values)
        parser.add_argument("--limit", type=int, default=100, help="How many tasks at most.")
        parser.add_argument(
            "--gold-share", type=float, help="Share of gold tasks (default: the project's rate)."
        )

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        return tasks_create_from_prompts(
            project=project,
            kind=options["kind"],
            limit=options["limit"],
            gold_share=options["gold_share"],
            enqueue=False,
        )
