"""manage.py import_prompts PATH --project SLUG [--format F] [--since DATE] [--skip-invalid]
[--blocklist TERM ...] [--languages CODE ...] [--min-chars N] [--max-chars N] [--min-tokens N]
[--max-tokens N] [--near-dup-threshold X]"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from labeling.management.pipeline_command import (
    PipelineCommand,
    add_filter_arguments,
    filter_options,
)
from labeling.models import PipelineRun, Project
from labeling.pipeline.formats import FORMATS
from labeling.services.pipeline import import_run_start

ERROR_SINCE = "--since takes a date (2026-01-31), a date and time, or a number of days (14d)."


def parse_since(value: str) -> datetime:
    """An ISO date or datetime, or "14d" (the last 14 days)."""
    text = value.strip()
    if text.endswith("d") and text[:-1].isdigit():
        return timezone.now() - timedelta(days=int(text[:-1]))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(ERROR_SINCE) from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class Command(PipelineCommand):
    help = (
        "Import prompts from a JSONL, CSV, Parquet or text file into a project: redact PII, "
        "filter (with the options below; filtered prompts are kept with their reasons), tag "
        "with the rules. Prints the counts and the funnel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        super().add_arguments(parser)

    def add_stage_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, help="Detected from the rows if left out.")
        parser.add_argument("--since", help="Only rows collected since: a date or e.g. 14d.")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="Import good rows, report bad ones."
        )
        add_filter_arguments(parser)

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        since = parse_since(options["since"]) if options["since"] else None
        return import_run_start(
            project=project,
            path=options["path"],
            format=options["format"],
            since=since,
            skip_invalid=options["skip_invalid"],
            filters=filter_options(options),
            enqueue=False,
        )
