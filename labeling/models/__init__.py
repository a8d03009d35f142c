from labeling.models.annotations import (
    Annotation,
    AnnotationStatus,
    Flag,
    Review,
    ReviewDecision,
)
from labeling.models.drafts import Draft
from labeling.models.pipeline import PipelineRun, PipelineStage, PipelineStatus
from labeling.models.projects import Membership, Project, Role
from labeling.models.prompts import Completion, Prompt, PromptStatus
from labeling.models.snapshots import DatasetSnapshot, SnapshotKind, SnapshotStatus
from labeling.models.tasks import (
    Assignment,
    AssignmentStatus,
    Task,
    TaskCompletion,
    TaskKind,
    TaskStatus,
)

__all__ = [
    "Annotation",
    "AnnotationStatus",
    "Assignment",
    "AssignmentStatus",
    "Completion",
    "DatasetSnapshot",
    "Draft",
    "Flag",
    "Membership",
    "PipelineRun",
    "PipelineStage",
    "PipelineStatus",
    "Project",
    "Prompt",
    "PromptStatus",
    "Review",
    "ReviewDecision",
    "Role",
    "SnapshotKind",
    "SnapshotStatus",
    "Task",
    "TaskCompletion",
    "TaskKind",
    "TaskStatus",
]
