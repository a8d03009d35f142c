"""What the pipeline's stage commands share (`import_prompts`, `filter_prompts`, `tag_prompts`,
`synthesize_prompts`, `create_tasks`): the project by slug, the stage's service called with the
options, the run executed here and now with its progress printed, then its result: counts,
funnel, tokens and cost, warnings, rejected rows and per-item failures. A bad option or a failed
run exits non-zero with the message the pages show."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from flywheel.errors import DomainError
from labeling.models import PipelineRun, PipelineStatus, Project
from labeling.services.pipeline import LENGTH_OPTIONS, pipeline_run_execute

ERROR_PROJECT = "No project with slug {slug!r}."
FAILURES_SHOWN = 50


def project_by_slug(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(ERROR_PROJECT.format(slug=slug))
    return project


FILTER_OPTIONS = (*LENGTH_OPTIONS, "blocklist", "languages", "near_dup_threshold")


def add_filter_arguments(parser: CommandParser) -> None:
    """The filter chain's options, as `import_prompts` and `filter_prompts` take them."""
    for name in LENGTH_OPTIONS:
        bound, unit = name.split("_")
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, help=f"The {bound}imum length in {unit}."
        )
    parser.add_argument(
        "--blocklist", action="append", default=[], help="A term to filter out (repeat it)."
    )
    parser.add_argument(
        "--languages", action="append", default=[], help="A language code to keep (repeat)."
    )
    parser.add_argument(
        "--near-dup-threshold", type=float, help="Jaccard similarity of near duplicates."
    )


def filter_options(options: dict[str, Any]) -> dict[str, Any]:
    """The filter arguments given, as the services take them (the rest keep their defaults)."""
    return {name: options[name] for name in FILTER_OPTIONS if options[name] not in (None, [])}


def add_llm_arguments(parser: CommandParser, *, what: str) -> None:
    parser.add_argument("--llm-model", default="", help=f"The LLM model {what}.")
    parser.add_argument(
        "--llm-base-url", default="", help="Its OpenAI-compatible server (default: settings)."
    )
    parser.add_argument(
        "--price-in", type=float, default=0.0, help="US dollars per million input tokens."
    )
    parser.add_argument(
        "--price-out", type=float, default=0.0, help="US dollars per million output tokens."
    )


def llm_options(options: dict[str, Any]) -> dict[str, Any]:
    """The LLM arguments as the services take them."""
    return {
        "llm_model": options["llm_model"],
        "llm_base_url": options["llm_base_url"],
        "price_prompt_per_mtok": options["price_in"],
        "price_completion_per_mtok": options["price_out"],
    }


def failure_label(failure: dict[str, Any]) -> str:
    """What failed: the step, and the prompt by id when there is one (with its key: the content
    hash, "#j" for its j-th answer), else the key (a self-instruct call)."""
    step = f"{failure['step']} " if failure.get("step") else ""
    if failure.get("prompt") is None:
        return f"{step}{failure['key']}"
    return f"{step}prompt #{failure['prompt']} ({failure['key']})"


def result_lines(run: PipelineRun) -> list[str]:
    """The run's result as the run page shows it, in lines of text."""
    lines = [f"run {run.pk} {run.status}: {run.done} of {run.total} {run.progress_unit}"]
    figures = ", ".join(f"{label.lower()} {value}" for label, value in run.figures)
    if figures:
        lines.append(f"  {figures}")
    for name, value in run.ordered_counts:
        if isinstance(value, dict) and value:
            listing = ", ".join(f"{key} {n}" for key, n in value.items())
            lines.append(f"  {name.replace('_', ' ')}: {listing}")
    funnel = run.funnel or {}
    if funnel.get("stages"):
        lines.append(f"  funnel: {funnel.get('total', 0)} checked, {funnel.get('kept', 0)} kept")
        for stage in funnel["stages"]:
            reasons = ", ".join(f"{code} {n}" for code, n in stage.get("reasons", {}).items())
            lines.append(
                f"    {stage['name']}: removed {stage['removed']}"
                + (f" ({reasons})" if reasons else "")
            )
    llm = run.params.get("llm")
    if llm:
        price_in = llm.get("price_prompt_per_mtok") or 0
        price_out = llm.get("price_completion_per_mtok") or 0
        cost = (
            f"cost ${run.cost_usd:.6f} (at ${price_in:g} in / ${price_out:g} out per million)"
            if price_in or price_out
            else "no prices given, cost not counted"
        )
        lines.append(
            f"  {llm['model']}: {run.prompt_tokens} tokens in / {run.completion_tokens} out; "
            + cost
        )
    return lines


class PipelineCommand(BaseCommand):
    """A stage's command: `--project SLUG` and the stage's options; `start` calls its service."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="The project's slug.")
        self.add_stage_arguments(parser)

    def add_stage_arguments(self, parser: CommandParser) -> None:
        pass

    def start(self, *, project: Project, options: dict[str, Any]) -> PipelineRun:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_by_slug(options["project"])
        try:
            run = self.start(project=project, options=options)
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"run {run.pk}: {run.get_stage_display().lower()} in {project.slug}")
        run = pipeline_run_execute(run=run, on_progress=self._progress(run.progress_unit))
        for reject in run.rejects:
            self.stderr.write(f"line {reject['line']}: {reject['reason']}")
        for failure in run.failures[:FAILURES_SHOWN]:
            self.stderr.write(f"failed: {failure_label(failure)}: {failure['reason']}")
        if len(run.failures) > FAILURES_SHOWN:
            more = len(run.failures) - FAILURES_SHOWN
            self.stderr.write(f"... and {more} more failures (listed on the run page)")
        for warning in run.warnings:
            self.stderr.write(f"warning: {warning['message']}")
        if run.status == PipelineStatus.FAILED:
            raise CommandError(run.error)
        for line in result_lines(run):
            self.stdout.write(line)

    def _progress(self, unit: str):
        def report(done: int, total: int) -> None:
            self.stdout.write(f"  {done}/{total or '?'} {unit}")

        return report
