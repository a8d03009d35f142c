"""The data flywheel's stages, stored: one service per stage, each recorded on a PipelineRun.

`<stage>_start` services (`import_run_start`, `prompts_filter`, `prompts_tag`,
`prompts_synthesize`, `tasks_create_from_prompts`) validate the options, create the run and
enqueue it on the "default" queue after commit (or run it at once with `enqueue=False`, as the
management command does). `pipeline_run_execute` is what the worker calls with the run's id.

Audit: nothing is deleted. A prompt a filter removes is stored with status "filtered" and its
reasons, and `prompt_restore` brings it back.
"""

from .execute import pipeline_run_execute
from .runs import (
    ERROR_FILE_MISSING,
    ERROR_FORMAT,
    ERROR_GOLD_SHARE,
    ERROR_LENGTH_BOUND,
    ERROR_LENGTH_ORDER,
    ERROR_LIMIT,
    ERROR_LLM_MODEL,
    ERROR_NOTHING_TO_SYNTHESIZE,
    ERROR_PRICE,
    ERROR_SYNTH_COUNTS,
    ERROR_TEMPERATURES,
    LENGTH_OPTIONS,
    TAGGED_BY_LLM,
    TAGGED_BY_RULES,
    TAGGED_BY_SOURCE,
    WARNING_GOLD_SHORT,
    WARNING_NOTHING_TO_DRAFT,
    WARNING_TOO_FEW_ANSWERS,
    PipelineRunError,
)
from .start import (
    import_run_start,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)

__all__ = [
    "ERROR_FILE_MISSING",
    "ERROR_FORMAT",
    "ERROR_GOLD_SHARE",
    "ERROR_LENGTH_BOUND",
    "ERROR_LENGTH_ORDER",
    "ERROR_LIMIT",
    "ERROR_LLM_MODEL",
    "ERROR_NOTHING_TO_SYNTHESIZE",
    "ERROR_PRICE",
    "ERROR_SYNTH_COUNTS",
    "ERROR_TEMPERATURES",
    "LENGTH_OPTIONS",
    "TAGGED_BY_LLM",
    "TAGGED_BY_RULES",
    "TAGGED_BY_SOURCE",
    "WARNING_GOLD_SHORT",
    "WARNING_NOTHING_TO_DRAFT",
    "WARNING_TOO_FEW_ANSWERS",
    "PipelineRunError",
    "import_run_start",
    "pipeline_run_execute",
    "prompts_filter",
    "prompts_synthesize",
    "prompts_tag",
    "tasks_create_from_prompts",
]
