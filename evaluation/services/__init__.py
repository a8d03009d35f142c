"""Writes for evaluation. Import from the submodules; the names are re-exported here."""

from evaluation.services.configs import (
    judge_config_create,
    judge_template_builtin,
    judge_template_create,
)
from evaluation.services.judgments import judgment_record
from evaluation.services.runner import eval_run_execute
from evaluation.services.runs import (
    eval_run_cancel,
    eval_run_check_alive,
    eval_run_create,
    eval_run_enqueue,
    eval_run_reap_lost,
    eval_run_resume,
)
from evaluation.services.sets import (
    candidates_generate,
    candidates_generate_enqueue,
    candidates_generate_llm_enqueue,
    candidates_generate_with_adapter,
    candidates_import,
    eval_set_create,
    eval_set_from_snapshot,
    eval_set_import_questions,
    eval_set_import_references,
)

__all__ = [
    "candidates_generate",
    "candidates_generate_enqueue",
    "candidates_generate_llm_enqueue",
    "candidates_generate_with_adapter",
    "candidates_import",
    "eval_run_cancel",
    "eval_run_check_alive",
    "eval_run_create",
    "eval_run_enqueue",
    "eval_run_execute",
    "eval_run_reap_lost",
    "eval_run_resume",
    "eval_set_create",
    "eval_set_from_snapshot",
    "eval_set_import_questions",
    "eval_set_import_references",
    "judge_config_create",
    "judge_template_builtin",
    "judge_template_create",
    "judgment_record",
]
