"""Run an eval run in this process (for a one-off or a debugging session); the web and the
API enqueue runs on the "default" queue instead."""

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvalRun
from evaluation.services import eval_run_execute


class Command(BaseCommand):
    help = "Execute (or resume) an eval run by id and print its headline results."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, run_id: int, **options):
        if not EvalRun.objects.filter(pk=run_id).exists():
            raise CommandError(f"No eval run {run_id}.")
        run = eval_run_execute(run_id=run_id)
        self.stdout.write(
            f"run {run.pk} {run.status}: {run.calls_done}/{run.calls_total} judgments, "
            f"{run.calls_made} calls, {run.cached_count} cached, {run.parse_failures} unparseable"
        )
        for warning in run.results.get("warnings", []):
            self.stdout.write(f"warning: {warning}")
