"""Import pairwise votes / single-answer scores made elsewhere as a named judgment set."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from evaluation.services.imports import DEFAULT_FORMAT, FORMATS, judgments_import
from flywheel.errors import DomainError
from labeling.models import Project

NO_PROJECT = (
    "No --project: the set belongs to no project, so no report page or API shows it; read it "
    "with `manage.py agreement_report --name {name!r} --a GROUP --b GROUP`. To show it on the "
    "pages, import the file again with --project SLUG (and another --name: names are unique)."
)


class Command(BaseCommand):
    help = (
        "Import MT-Bench / Chatbot Arena judgments (CSV or JSONL: question_id, model_a, "
        "model_b, winner, judge, turn; or question_id, model, turn, judge, score[, trial]). "
        "Bad rows are listed with their line numbers and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--name", required=True, help="Name of the new judgment set.")
        parser.add_argument(
            "--format",
            default=DEFAULT_FORMAT,
            choices=FORMATS,
            help=(
                "mtbench: the questions are MT-Bench's (ids 81-160), rows without a category "
                "take the bundled question's; generic (default): your own questions, the "
                "category comes only from the file's category column."
            ),
        )
        parser.add_argument(
            "--project",
            default=None,
            help=(
                "Project (slug or id) whose members may read it on the report pages and the "
                "API. Without it only this command line (agreement_report --name) reads it."
            ),
        )

    def handle(
        self, *args, paths: list[str], name: str, format: str, project: str | None, **options
    ):
        target = None
        if project is not None:
            target = Project.objects.filter(
                Q(slug=project) | Q(pk=int(project) if project.isdigit() else None)
            ).first()
            if target is None:
                raise CommandError(f"No project with slug or id {project!r}.")
        try:
            judgment_set = judgments_import(sources=paths, name=name, project=target, format=format)
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {exc.filename}") from None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        groups = ", ".join(f"{g} {n}" for g, n in judgment_set.groups.items())
        self.stdout.write(
            f"imported {judgment_set.name!r}: {judgment_set.vote_count} votes, "
            f"{judgment_set.score_count} scores ({groups})"
        )
        if target is None:
            self.stdout.write(self.style.WARNING(NO_PROJECT.format(name=judgment_set.name)))
