"""Demo data for the pipeline: a small production log goes through import, PII redaction,
the filter funnel, rule tagging and heuristic rewrites; what the funnel keeps is stored through
`prompt_bulk_create` (which skips conversations the project already has, so loading twice adds
nothing). The funnel report is printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from labeling.models import Project, Prompt
from labeling.services.prompts import prompt_bulk_create

from .filters import Funnel, default_filters
from .readers import PromptReader, collect
from .records import ParsedPrompt, prompt_payload
from .synthesis import rewrite_heuristic
from .tagging import TASK_TYPES, tag_rules

DEMO_LOG = Path(__file__).resolve().parent / "data" / "demo_logs.jsonl"
REWRITES = ("json_output", "persona")
REWRITTEN = 3  # how many kept prompts also get rule-based rewrites


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    reader = PromptReader(DEMO_LOG)
    imported = collect(reader, skip_invalid=True)
    for error in imported.errors:
        stdout.write(f"  pipeline demo: line {error.line} rejected: {error.reason}\n")

    funnel = Funnel(default_filters(languages=["en"]))
    kept: list[ParsedPrompt] = [v.prompt for v in funnel.run(imported.prompts) if v.kept]
    labels = list(project.task_types or TASK_TYPES)
    for prompt in kept:
        prompt.task_type = tag_rules(prompt.text, labels=labels).task_type
    variants = rewrite_heuristic(kept[:REWRITTEN], kinds=REWRITES)

    before = Prompt.objects.filter(project=project).count()
    prompt_bulk_create(project=project, prompts=[prompt_payload(p) for p in kept + variants])
    added = Prompt.objects.filter(project=project).count() - before

    report = funnel.report
    stdout.write(
        f"  pipeline demo: {reader.rows} log rows, {len(imported.errors)} rejected, "
        f"{report.total} filtered, {report.kept} kept, {len(variants)} rewrites; "
        f"{added} new prompts in {project.name}\n"
    )
    if report.pii:
        stdout.write(f"  pipeline demo: PII redacted: {dict(report.pii)}\n")
    for stage in report.stages:
        if stage.removed:
            reasons = "; ".join(reason for _, reason in stage.samples)
            stdout.write(f"  pipeline demo: {stage.name} removed {stage.removed} ({reasons})\n")
