"""Record the raters' submitted answers on an eval run's human tasks as judgments of group
human, as the run report's "Collect submitted answers" button and the API do."""

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvalRun
from evaluation.services.human import human_judgments_collect


class Command(BaseCommand):
    help = (
        "Collect the submitted or accepted answers on an eval run's human tasks as judgments "
        "of group human (again: updates, and removes votes no longer submitted or accepted)."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, run_id: int, **options):
        run = EvalRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No eval run {run_id}.")
        collected = human_judgments_collect(run=run)
        if not collected.tasks:
            self.stdout.write(
                f"run {run.pk} {run.name!r} has no human tasks: send its items to raters first "
                "(the run's agreement report page, or POST "
                f"/api/evaluation/runs/{run.pk}/human-tasks/)."
            )
            return
        self.stdout.write(
            f"run {run.pk} {run.name!r}: {collected.annotations} submitted answers on "
            f"{collected.tasks} tasks; recorded {collected.recorded} human judgments, removed "
            f"{collected.removed} no longer submitted or accepted"
        )
