"""manage.py eval_set_from_snapshot SNAPSHOT --name NAME [--split train|validation]: an eval
set from a ready prompts snapshot (the service the API calls)."""

from django.core.management.base import BaseCommand, CommandError

from evaluation.services import eval_set_from_snapshot
from evaluation.services.sets import SNAPSHOT_SPLITS
from flywheel.errors import DomainError
from labeling.models import DatasetSnapshot


class Command(BaseCommand):
    help = (
        "Make an eval set of the user turns of a ready prompts snapshot (task type as "
        "category, prompt id as question id) and print its id."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("snapshot", type=int, help="Id of a ready prompts snapshot.")
        parser.add_argument("--name", required=True, help="Name of the new eval set.")
        parser.add_argument(
            "--split",
            action="append",
            choices=SNAPSHOT_SPLITS,
            help="Only this split (repeat for more); default: every split the snapshot has.",
        )

    def handle(self, *args, snapshot: int, name: str, split: list[str] | None, **options):
        found = DatasetSnapshot.objects.select_related("project").filter(pk=snapshot).first()
        if found is None:
            raise CommandError(f"No dataset snapshot {snapshot}.")
        try:
            eval_set = eval_set_from_snapshot(snapshot=found, name=name, splits=split)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"eval set {eval_set.pk} {eval_set.name!r} in {found.project.name!r}: "
            f"{eval_set.question_count} questions from snapshot {found.pk}"
        )
