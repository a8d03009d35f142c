"""manage.py generate_answers EVAL_SET --model-name NAME --base-url URL --model MODEL: answers
to an eval set's questions from an OpenAI-compatible server, here and now (the API queues the
same service on the "default" queue). It resumes: questions answered already are skipped."""

import time

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvalSet
from evaluation.services import candidates_generate
from flywheel.errors import DomainError

PROGRESS_EVERY_S = 2.0


class Command(BaseCommand):
    help = (
        "Answer every question of an eval set with a model behind an OpenAI-compatible server "
        "(turn by turn), store the answers under --model-name and print progress as it goes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("eval_set", type=int, help="Id of the eval set.")
        parser.add_argument(
            "--model-name", required=True, help="What runs and reports call these answers."
        )
        parser.add_argument("--base-url", required=True, help="The server, e.g. http://h:8000/v1.")
        parser.add_argument("--model", required=True, help="The model name the server knows.")
        parser.add_argument(
            "--api-key-env",
            default="FLYWHEEL_LLM_API_KEY",
            help="Environment variable holding the API key (never stored).",
        )
        parser.add_argument("--temperature", type=float, default=0.7)
        parser.add_argument("--max-tokens", type=int, default=1024)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds per call.")

    def handle(self, *args, **options):
        eval_set = EvalSet.objects.filter(pk=options["eval_set"]).first()
        if eval_set is None:
            raise CommandError(f"No eval set {options['eval_set']}.")
        shown = {"at": 0.0}

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - shown["at"] >= PROGRESS_EVERY_S:
                shown["at"] = now
                self.stdout.write(f"{done}/{total} questions")

        try:
            written = candidates_generate(
                eval_set=eval_set,
                model_name=options["model_name"],
                base_url=options["base_url"],
                model=options["model"],
                api_key_env=options["api_key_env"],
                temperature=options["temperature"],
                max_tokens=options["max_tokens"],
                max_concurrency=options["concurrency"],
                timeout_s=options["timeout"],
                progress=progress,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        note = "" if written else " (every question has an answer under that name already)"
        self.stdout.write(
            f"{written} answers from {options['model']} written as {options['model_name']!r} "
            f"to eval set {eval_set.pk} {eval_set.name!r}{note}"
        )
