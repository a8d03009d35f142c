"""manage.py import_prompts PATH --project SLUG [--format F] [--since DATE] [--skip-invalid]"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import PipelineStatus, Project
from labeling.pipeline.formats import FORMATS
from labeling.services.pipeline import import_run_start, pipeline_run_execute

ERROR_PROJECT = "No project with slug {slug!r}."
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


class Command(BaseCommand):
    help = "Import prompts from a JSONL, CSV, Parquet or text file into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument("--format", choices=FORMATS, help="Detected from the rows if left out.")
        parser.add_argument("--since", help="Only rows collected since: a date or e.g. 14d.")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="Import good rows, report bad ones."
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(ERROR_PROJECT.format(slug=options["project"]))
        since = parse_since(options["since"]) if options["since"] else None
        try:
            run = import_run_start(
                project=project,
                path=options["path"],
                format=options["format"],
                since=since,
                skip_invalid=options["skip_invalid"],
                enqueue=False,
            )
        except DomainError as error:
            raise CommandError(str(error)) from None
        run = pipeline_run_execute(run=run, on_progress=self._progress)
        for reject in run.rejects:
            self.stderr.write(f"line {reject['line']}: {reject['reason']}")
        if run.status == PipelineStatus.FAILED:
            raise CommandError(run.error)
        counts = run.counts
        self.stdout.write(
            f"run {run.pk}: {counts.get('rows', 0)} rows, {counts.get('prompts', 0)} new prompts "
            f"({counts.get('kept', 0)} kept, {counts.get('filtered', 0)} filtered out), "
            f"{counts.get('completions', 0)} answers, {counts.get('duplicates', 0)} already there, "
            f"{counts.get('rejected', 0)} rejected"
        )

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"  {done}/{total} rows")
