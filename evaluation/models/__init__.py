from evaluation.models.config import JudgeConfig, JudgeTemplate, TemplateKind, TemplateParser
from evaluation.models.runs import (
    EvalItem,
    EvalRun,
    Judgment,
    JudgmentStatus,
    Order,
    RaterGroup,
    RunMode,
    RunStatus,
)
from evaluation.models.sets import CandidateAnswer, EvalQuestion, EvalSet

__all__ = [
    "CandidateAnswer",
    "EvalItem",
    "EvalQuestion",
    "EvalRun",
    "EvalSet",
    "JudgeConfig",
    "JudgeTemplate",
    "Judgment",
    "JudgmentStatus",
    "Order",
    "RaterGroup",
    "RunMode",
    "RunStatus",
    "TemplateKind",
    "TemplateParser",
]
