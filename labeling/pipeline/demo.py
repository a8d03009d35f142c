"""Demo data for the pipeline, through the same services the pages, API, admin and command use:
a small production log is imported (PII redacted, the funnel's rejects stored as filtered
prompts with their reasons, rows tagged by rules), then three kept prompts get rule-based
rewrites. A second load finds the demo's import already done and adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from labeling.models import PipelineRun, PipelineStage, PipelineStatus, Project
from labeling.services.pipeline import (
    import_run_start,
    pipeline_run_execute,
    prompts_synthesize,
)

DEMO_LOG = Path(__file__).resolve().parent / "data" / "demo_logs.jsonl"
REWRITES = ("json_output", "persona")
REWRITTEN = 3  # how many kept prompts also get rule-based rewrites


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    done = PipelineRun.objects.filter(
        project=project,
        stage=PipelineStage.IMPORT,
        input_name=DEMO_LOG.name,
        status=PipelineStatus.SUCCEEDED,
    )
    if done.exists():
        stdout.write(f"  pipeline demo: {DEMO_LOG.name} already imported; 0 new prompts\n")
        return
    researcher = users.get("researcher")
    run = pipeline_run_execute(
        run=import_run_start(
            project=project,
            path=DEMO_LOG,
            skip_invalid=True,
            filters={"languages": ["en"]},
            created_by=researcher,
            enqueue=False,
        )
    )
    for reject in run.rejects:
        stdout.write(f"  pipeline demo: line {reject['line']} rejected: {reject['reason']}\n")
    rewrites = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            rewrites=REWRITES,
            limit=REWRITTEN,
            created_by=researcher,
            enqueue=False,
        )
    )
    counts = run.counts
    funnel = run.funnel
    stdout.write(
        f"  pipeline demo: {counts['rows']} log rows, {counts['rejected']} rejected, "
        f"{funnel['total']} filtered, {funnel['kept']} kept, "
        f"{rewrites.counts.get('rewrites', 0)} rewrites; "
        f"{counts['prompts'] + rewrites.counts.get('rewrites', 0)} new prompts in {project.name} "
        f"({counts['filtered']} kept as filtered, with reasons)\n"
    )
    if funnel["pii"]:
        stdout.write(f"  pipeline demo: PII redacted: {funnel['pii']}\n")
    for stage in funnel["stages"]:
        if stage["removed"]:
            reasons = "; ".join(sample["reason"] for sample in stage["samples"])
            stdout.write(
                f"  pipeline demo: {stage['name']} removed {stage['removed']} ({reasons})\n"
            )
