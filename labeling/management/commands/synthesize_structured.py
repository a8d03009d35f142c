"""manage.py synthesize_structured --project SLUG --kind KIND --input PATH --model M [...]

Long-context questions about documents, function-calling requests for tools, or RAG questions
over passages; the run is the same as the pipeline page's, the API's and the admin's.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from flywheel.errors import DomainError
from labeling.models import PipelineStatus, Project
from labeling.pipeline.structured_inputs import input_from_path
from labeling.services.pipeline import pipeline_run_execute
from labeling.services.structured import STRUCTURED_KINDS, prompts_synthesize_structured

ERROR_PROJECT = "No project with slug {slug!r}."


class Command(BaseCommand):
    help = "Synthesize long-context, function-calling or RAG prompts with an LLM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument("--kind", required=True, choices=STRUCTURED_KINDS)
        parser.add_argument(
            "--input",
            required=True,
            help="long_context: a .txt/.md document, a JSONL of {title, text}, or a folder of "
            "them; function_calling: a JSON file of OpenAI tools; rag: a JSONL of "
            "{id, text, title} passages (or paragraphs separated by blank lines).",
        )
        parser.add_argument(
            "--model", default="", help="The LLM model that writes items (default: the project's)."
        )
        parser.add_argument("--base-url", default="", help="The OpenAI-compatible server.")
        parser.add_argument(
            "--questions-per-document", type=int, default=2, help="long_context (default 2)."
        )
        parser.add_argument(
            "-n", "--count", type=int, default=10, help="function_calling, rag: items (10)."
        )
        parser.add_argument(
            "--passages-per-item", type=int, default=3, help="rag: passages a question gets (3)."
        )
        parser.add_argument("--price-in", type=float, default=0.0, help="USD per M input tokens.")
        parser.add_argument("--price-out", type=float, default=0.0, help="USD per M output tokens.")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(ERROR_PROJECT.format(slug=options["project"]))
        kind = options["kind"]
        try:
            run = prompts_synthesize_structured(
                project=project,
                kind=kind,
                llm_model=options["model"],
                llm_base_url=options["base_url"],
                price_prompt_per_mtok=options["price_in"],
                price_completion_per_mtok=options["price_out"],
                questions_per_document=options["questions_per_document"],
                count=options["count"],
                passages_per_item=options["passages_per_item"],
                input_name=Path(options["input"]).name,
                enqueue=False,
                **input_from_path(kind, options["input"]),
            )
        except DomainError as error:
            raise CommandError(str(error)) from None
        run = pipeline_run_execute(run=run, on_progress=self._progress)
        for failure in run.failures:
            self.stderr.write(f"{failure['key']}: {failure['reason']}")
        if run.status == PipelineStatus.FAILED:
            raise CommandError(run.error)
        counts = run.counts
        self.stdout.write(
            f"run {run.pk}: {counts.get('prompts', 0)} new {kind} prompts, "
            f"{counts.get('duplicates', 0)} already there, {counts.get('failures', 0)} failed; "
            f"{run.prompt_tokens} + {run.completion_tokens} tokens, ${run.cost_usd:.4f}"
        )

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"  {done}/{total} LLM calls")
