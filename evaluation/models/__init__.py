from evaluation.models.agreement import AgreementReport, ImportedJudgment, JudgmentSet
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
    "AgreementReport",
    "CandidateAnswer",
    "EvalItem",
    "EvalQuestion",
    "EvalRun",
    "EvalSet",
    "ImportedJudgment",
    "JudgeConfig",
    "JudgeTemplate",
    "Judgment",
    "JudgmentSet",
    "JudgmentStatus",
    "Order",
    "RaterGroup",
    "RunMode",
    "RunStatus",
    "TemplateKind",
    "TemplateParser",
]
